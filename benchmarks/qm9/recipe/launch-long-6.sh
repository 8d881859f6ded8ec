#!/usr/bin/env bash
# Issue 26, part 5: a from-scratch long run with the shipped model's recipe (GE-CPU, element condition,
# self-conditioning, bond head, 3-layer refiner, local loss 0.02) plus the stop-gradient over the latent
# LayerNorm's gain and bias (`--latent-norm-stop-grad`: at 2 CPU-hours, seed 0, 26.6 % valid+connected against
# 2.3 % without it, ../equal-compute/README.md). A 12-hour cosine budget across sessions; checkpoints every
# 250 steps or 10 minutes, float16 snapshots; rerun this script to resume (the LR follows the elapsed budget).
# Usage: THREADS=1 bash benchmarks/qm9/recipe/launch-long-6.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv/bin/python}
THREADS=${THREADS:-1}
mkdir -p runs/logs
OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1 "$PY" -m unite_mol.train \
  --run-dir runs/long-6 --preset GE-CPU --lr 1e-3 --warmup 200 --lr-schedule cosine-budget --budget 12h --seed 0 \
  --ckpt-every 250 --log-every 25 --snapshots --refine-layers 3 --local-weight 0.02 --bond-head --self-cond \
  --element-cond --flow-copies 2 --latent-norm-stop-grad --compile >> runs/logs/long-6.log 2>&1
