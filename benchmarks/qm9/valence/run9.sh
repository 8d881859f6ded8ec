#!/usr/bin/env bash
# Valence guidance round 9: the bond-length term asks aromatic systems for a kekulé structure (single / double
# windows from unite_mol.bonds.kekule_orders, the doubles where the current geometry's bonds are shortest)
# instead of one window "between triple and single" that left EDM's reading of a ring to chance.
# Arms: "kekule" (windows and the gate's valences from the kekulé orders: the code's default after this round),
# "kekule-windows" (kekulé windows, the gate still counting aromatic bonds 1.5), "off" (kekule=False, round 8's
# default). 1,000 samples per arm, one torch thread per arm, two arms at a time.
# Usage: SEED=0 ARMS="kekule off" bash benchmarks/qm9/valence/run9.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
PY=${PY:-.venv/bin/python}
arm() {   # arm NAME MODE: MODE on | off | windows
  "$PY" -c "import os, sys
if os.environ.get('PKG'):  # a snapshot of the package to run (the working tree may change meanwhile)
    sys.path.insert(0, os.environ['PKG'])
mode = sys.argv.pop(1)
import torch
from unite_mol.molecular import MoleculeAdapter
from unite_mol.refiner import BOND_VALENCE, pair_mask
if mode == 'off':
    MoleculeAdapter.bond_length_error.__kwdefaults__['kekule'] = False
elif mode == 'windows':     # kekulé windows, the gate from the head's orders with aromatic 1.5
    kek = MoleculeAdapter._kekule_graph
    def windows_only(order, target, mask, d):
        pm = pair_mask(mask)
        hard = (torch.tensor(BOND_VALENCE)[order * pm] * pm).sum(-1)
        return kek(order, target, mask, d)[0], ((hard - target).abs() < 1e-3) | ~mask
    MoleculeAdapter._kekule_graph = staticmethod(windows_only)
from unite_mol.bench.levers import main
sys.exit(main(sys.argv[1:]))" "$2" "$1=$M" --samples 1000 --recon 0 --seed "$S" --threads 1 \
    --out "benchmarks/qm9/valence/round9/s$S-$1"
}
set -- ${ARMS:-kekule off}
while [ $# -gt 0 ]; do
  mode() { case "$1" in kekule) echo on;; kekule-windows) echo windows;; off) echo off;; esac; }
  if [ $# -ge 2 ]; then arm "$1" "$(mode "$1")" & arm "$2" "$(mode "$2")"; wait; shift 2
  else arm "$1" "$(mode "$1")"; shift; fi
done
