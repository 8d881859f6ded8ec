#!/usr/bin/env bash
# Lever study round 3: does distance feedback add to the shipped (self-conditioning) model? Fine-tunes of
# the shipped model, one torch thread each, run side by side, seed 0, same budget:
#   H  control: the shipped recipe continued (decoder stage + bond head + self-conditioning)
#   I  + distance feedback (the decoded estimate's pair distances bias the GE's attention; the
#        tokenization pass sees the true distances the same way), new inputs at 10x LR
# Usage: ARM=H|I [SEED=0] [BUDGET=30m] [RUN=runs/r3-ARM] [EXTRA="more train flags"] bash benchmarks/qm9/levers-r3/launch.sh
cd "$(dirname "$0")/../../.."
: "${ARM:?set ARM to H or I}" "${SEED:=0}" "${BUDGET:=30m}" "${RUN:=runs/r3-$ARM}"
case "$ARM" in
  H) LEVER="--self-cond" ;;
  I) LEVER="--self-cond --pair-features 16 --new-input-lr-mult 10" ;;
  *) echo "unknown arm $ARM" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
exec .venv/bin/python -m unite_mol.train --run-dir "$RUN" --init-from unite_mol/pretrained/unite-qm9 \
  --lr 1e-4 --warmup 20 --lr-schedule cosine-budget --budget "$BUDGET" --seed "$SEED" \
  --ckpt-every 250 --log-every 25 --snapshots \
  --refine-layers 3 --local-weight 0.02 --bond-head --refiner-lr-mult 10 $LEVER ${EXTRA:-}
