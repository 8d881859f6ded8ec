#!/usr/bin/env bash
# Lever study round 4: the flow side on top of round 3's arm I (self-conditioning + distance feedback).
# Fine-tunes of the shipped model, one torch thread each, run side by side, seed 1 (the seed of round 3's
# second-seed runs, which ran side by side under the same conditions and are this round's controls):
#   J  arm I + 6 denoising copies per step instead of 2 (more flow signal per encoder pass)
#   K  arm I + flow loss weight 3 instead of 1 (reconstruction is already at 97.8 %)
# Usage: ARM=J|K [SEED=1] [BUDGET=25m] [RUN=runs/r4-ARM] bash benchmarks/qm9/levers-r4/launch.sh
cd "$(dirname "$0")/../../.."
: "${ARM:?set ARM to J or K}" "${SEED:=1}" "${BUDGET:=25m}" "${RUN:=runs/r4-$ARM}"
case "$ARM" in
  J) EXTRA="--flow-copies 6" ;;
  K) EXTRA="--flow-weight 3" ;;
  *) echo "unknown arm $ARM" >&2; exit 2 ;;
esac
ARM=I SEED=$SEED BUDGET=$BUDGET RUN=$RUN EXTRA=$EXTRA exec bash benchmarks/qm9/levers-r3/launch.sh
