#!/usr/bin/env bash
# Lever study round 2: 40-minute fine-tunes of the shipped model, one torch thread each, seed 0, the
# clean-end time mixture off in every arm (round 1's long run had it on).
# Usage: ARM=E|F|G [SEED=0] [BUDGET=40m] [RUN=runs/r2-ARM] bash benchmarks/qm9/levers-r2/launch.sh
#   E  control: the shipped recipe continued (decoder stage + bond head)
#   F  + self-conditioning (the denoiser reads its previous clean-latent estimate)
#   G  + self-conditioning + distance feedback (the estimate's decoded distances bias the GE's attention;
#        the tokenization pass sees the true distances the same way)
cd "$(dirname "$0")/../../.."
: "${ARM:?set ARM to E, F or G}" "${SEED:=0}" "${BUDGET:=40m}" "${RUN:=runs/r2-$ARM}"
case "$ARM" in
  E) LEVER="" ;;
  F) LEVER="--self-cond --new-input-lr-mult 10" ;;
  G) LEVER="--self-cond --pair-features 16 --new-input-lr-mult 10" ;;
  *) echo "unknown arm $ARM" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${THREADS:-1} UNITE_MOL_NO_PROGRESS=1
exec .venv/bin/python -m unite_mol.train --run-dir "$RUN" --init-from unite_mol/pretrained/unite-qm9 \
  --lr 1e-4 --warmup 20 --lr-schedule cosine-budget --budget "$BUDGET" --seed "$SEED" \
  --ckpt-every 250 --log-every 25 --snapshots \
  --refine-layers 3 --local-weight 0.02 --bond-head --refiner-lr-mult 10 $LEVER
