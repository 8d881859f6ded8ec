#!/usr/bin/env bash
# A long run of the shipped recipe, continuing from a saved model (the long runs 1-4 of README.md; a later
# session continues from the shipped model the same way: INIT=unite_mol/pretrained/unite-qm9).
# The shipped model's last run: INIT=runs/grow-element/model BUDGET=80m RUN=runs/long-element THREADS=2 \
#   EXTRA="--self-cond --new-input-lr-mult 10 --element-cond"
# Usage: INIT=path/to/model BUDGET=80m RUN=runs/long bash benchmarks/qm9/training/launch.sh
cd "$(dirname "$0")/../../.."
: "${INIT:?set INIT to the model to continue from}" "${BUDGET:=80m}" "${RUN:=runs/long}" "${EXTRA:=}"
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
exec .venv/bin/python -m unite_mol.train --run-dir "$RUN" --init-from "$INIT" \
  --lr 1e-4 --warmup 20 --lr-schedule cosine-budget --budget "$BUDGET" --seed 0 \
  --ckpt-every 250 --log-every 25 --snapshots \
  --refine-layers 3 --local-weight 0.02 --bond-head --refiner-lr-mult 10 $EXTRA
