#!/usr/bin/env bash
# Round 13: sampler settings judged by physics (GFN2-xTB relaxation energy, PoseBusters, usable, W1 beside EDM).
# Each arm NAME=KEYS is `python -m unite_mol.bench levers NAME=MODEL@KEYS` on 500 samples, no reconstruction,
# xTB on the first 100 EDM-valid+connected samples, PoseBusters / usable on the first 100, one torch thread.
# The committed round ran (2026-12-07, AMD EPYC, shared with the image ablation's two training arms):
#   D=steps=75,noise_level=64   # the defaults of that day, named so the arms still mean the same
#   SEED=0 bash benchmarks/qm9/sampling/run-physics.sh alone=valence_steps=0,$D n16=valence_steps=0,steps=75,noise_level=16 \
#     n256=valence_steps=0,steps=75,noise_level=256 steps200=valence_steps=0,steps=200,noise_level=64 \
#     auto=valence_steps=0,$D,guide=auto shift05=valence_steps=0,$D,time_shift=0.5 \
#     n256s200=valence_steps=0,noise_level=256,steps=200 n256s400=valence_steps=0,noise_level=256,steps=400 \
#     guided=$D guided-n256s200=noise_level=256,steps=200 guided-n256s120=noise_level=256,steps=120
#   SEED=1 bash benchmarks/qm9/sampling/run-physics.sh alone=valence_steps=0,$D n256s200=valence_steps=0,noise_level=256,steps=200 \
#     guided=$D guided-n256s200=noise_level=256,steps=200 guided-n256s120=noise_level=256,steps=120
# ("guided" = valence guidance by the bond head, the default; "alone" = valence_steps=0.)
# Results: $OUT/s$SEED/NAME/results.{md,csv} (not committed; round13.csv collects them with collect-physics.py).
set -u
cd "$(dirname "$0")/../../.."
M=${MODEL:-unite_mol/pretrained/unite-qm9}
SEED=${SEED:-0}
OUT=${OUT:-runs/r13}
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
for arm in "$@"; do
  name=${arm%%=*}; spec=${arm#*=}
  out=$OUT/s$SEED/$name
  [ -f "$out/results.csv" ] && continue
  echo "== $name $spec $(date +%T)"
  .venv/bin/python -m unite_mol.bench levers "$name=$M@$spec" --samples 500 --recon 0 --seed "$SEED" \
     --xtb-n 100 --pb-n 100 --threads 1 --out "$out" > "$OUT/s$SEED-$name.log" 2>&1
  echo "   done $(date +%T) rc=$?"
done
