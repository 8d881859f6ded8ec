#!/usr/bin/env bash
# Lever study round 5: the learning rate of continued training. Every fine-tune so far ran at 1e-4
# (cosine to 1e-5 over its budget) while the first model trained at 1e-3, and every control arm stayed
# flat; is the plateau the recipe or the step size? Fine-tunes of the shipped model, one torch thread
# each, run side by side, seed 1, 25 minutes, the same conditions as round 3's second-seed runs (the
# controls: H-s1 and I-s1 at 1e-4):
#   L  round 3's H (the shipped recipe) at LR 3e-4 (warm-up 50 steps, cosine to 3e-5 over the budget)
#   M  round 3's I (+ distance feedback) at LR 3e-4, the same schedule
# Usage: ARM=L|M [SEED=1] [BUDGET=25m] [RUN=runs/r5-ARM] bash benchmarks/qm9/levers-r5/launch.sh
cd "$(dirname "$0")/../../.."
: "${ARM:?set ARM to L or M}" "${SEED:=1}" "${BUDGET:=25m}" "${RUN:=runs/r5-$ARM}"
case "$ARM" in
  L) BASE=H ;;
  M) BASE=I ;;
  *) echo "unknown arm $ARM" >&2; exit 2 ;;
esac
ARM=$BASE SEED=$SEED BUDGET=$BUDGET RUN=$RUN EXTRA="--lr 3e-4 --warmup 50" exec bash benchmarks/qm9/levers-r3/launch.sh
