#!/usr/bin/env bash
# After the long run: learning curve, export as the shipped model, make demo's benchmark, the final model
# with and without MMFF side by side, the diagnostic, sample drawings. Two torch threads throughout.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=2 UNITE_MOL_NO_PROGRESS=1
PY=.venv/bin/python
$PY -m unite_mol.bench run runs/long benchmarks/qm9/long-run/record --command \
  "INIT=runs/levers/D/model BUDGET=80m RUN=runs/long EXTRA='--time-uniform-frac 0.5 --time-uniform-min 0.8' bash benchmarks/qm9/long-run/launch.sh (2 threads; resumed once with THREADS=1 and once with 2 after other work competed for the CPU)"
bash benchmarks/qm9/long-run/curve.sh
$PY -m unite_mol export runs/long/model unite_mol/pretrained/unite-qm9 --float16
$PY -m unite_mol.bench qm9 --out benchmarks/qm9/pretrained
$PY -m unite_mol.bench levers shipped=unite_mol/pretrained/unite-qm9 --samples 1000 --recon 0 --relax \
  --threads 2 --out benchmarks/qm9/long-run/final
$PY -m unite_mol.bench diagnose --n 200 --samples 300 --threads 2 --out benchmarks/qm9/diagnose/shipped-2026-11-29
$PY -m unite_mol.bench draw unite_mol/pretrained/samples.png --n 24 --seed 0
