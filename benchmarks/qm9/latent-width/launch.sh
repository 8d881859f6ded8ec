#!/usr/bin/env bash
# Latent width from scratch: 4 / 8 / 16 channels per atom, the shipped recipe otherwise (GE-CPU,
# self-conditioning, the decoder's geometry-aware stage and bond head, LR 1e-3 with warm-up 300 and a
# cosine over the budget, every part at the same LR, seed 0). Run all three at once, one torch thread each, the same budget, so each
# gets the same share of the two cores:
#   for W in 4 8 16; do W=$W bash benchmarks/qm9/latent-width/launch.sh & done; wait
# NORM=fixed adds the arm that keeps every channel alive: the latent LayerNorm without gain or bias
# (--fixed-latent-norm: a fixed latent scale; the shipped model has two channels switched off by a gain
# near zero), run dir runs/lw-W-fixed.
# FRAME=canonical trains on each molecule's principal-axes frame instead of random rotations
# (../canonical-frame/README.md).
# Usage: W=4|8|16 [NORM=fixed] [FRAME=random|canonical] [SEED=0] [BUDGET=30m] [RUN=runs/lw-W] bash benchmarks/qm9/latent-width/launch.sh
cd "$(dirname "$0")/../../.."
: "${W:?set W to the latent width}" "${SEED:=0}" "${BUDGET:=30m}" "${NORM:=}"
case "$NORM" in
  "") : "${RUN:=runs/lw-$W}"; LATENT="" ;;
  fixed) : "${RUN:=runs/lw-$W-fixed}"; LATENT="--fixed-latent-norm" ;;
  *) echo "unknown NORM $NORM (fixed or empty)" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
exec .venv/bin/python -m unite_mol.train --run-dir "$RUN" --preset GE-CPU --latent-dim "$W" \
  --lr 1e-3 --warmup 300 --lr-schedule cosine-budget --budget "$BUDGET" --seed "$SEED" \
  --ckpt-every 250 --log-every 25 --snapshots \
  --refine-layers 3 --local-weight 0.02 --bond-head --self-cond --frame "${FRAME:-random}" $LATENT
