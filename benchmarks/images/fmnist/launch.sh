#!/usr/bin/env bash
# Fashion-MNIST, UNITE vs the two-stage baseline through one training path (issue 11): 30 CPU-minutes of
# training per entry, the two run side by side on the two cores (one torch thread each), then one
# evaluation of both (2,000 test images / samples per guidance scale, 25 Heun steps, guidance 1, 2, 4).
# Usage: bash benchmarks/images/fmnist/launch.sh   (about 35 minutes)
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/fmnist30-eval}   # the committed folder keeps results.csv and four of its pictures
mkdir -p runs/logs
export MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
for entry in unite two-stage; do
  flag=""; [ "$entry" = two-stage ] && flag="--two-stage"
  OMP_NUM_THREADS=1 .venv/bin/python -m unite_mol.images.train --run-dir "runs/fmnist30-$entry" --preset IM-T \
    --budget 30m --steps 100000 --ckpt-every 2000 --seed 0 $flag > "runs/logs/fmnist30-$entry.log" 2>&1 &
done
wait
OMP_NUM_THREADS=2 .venv/bin/python -m unite_mol.images.evaluate unite=runs/fmnist30-unite/model \
  two-stage=runs/fmnist30-two-stage/model --out "$OUT" --n 2000 --steps 25 --guidance 1,2,4 \
  --runs unite=runs/fmnist30-unite two-stage=runs/fmnist30-two-stage
