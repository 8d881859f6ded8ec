#!/usr/bin/env bash
# Recipe levers as 45-minute fine-tunes of the shipped model, one arm per call (README.md's table).
# Capacity (issue 10, "where the compute goes"): does a deeper GE lift generation past the shipped
# model's plateau? Arm "grow": the shipped model with 3 GE blocks appended (6 -> 9; each starts as the
# identity, adaLN-zero, so the grown model starts exactly where the shipped one is; the new blocks learn at
# 10x the base LR, as the self-conditioning input does in the shipped recipe). Arm "control": the shipped
# recipe (long-run-2's) continued, same everything else. Both from the shipped model, seed 0, LR 1e-4 with a cosine over the budget, one torch thread each,
# run side by side for the same wall-clock (the step count is what the depth costs):
#   for ARM in grow control; do ARM=$ARM bash benchmarks/qm9/levers/launch.sh & done; wait
# Resumable: rerun the same command (same RUN) after a kill.
# Arm "lag" (run later, beside a one-thread sampling job, against the same control): the self-conditioning
# estimate is trained from the point where generate()'s sampler (75 stochastic steps, strength 32) makes its
# previous prediction.
# Arm "canonical" (later, against the same control): every training molecule turned into its own
# principal-axes frame instead of a random rotation.
# Arm "composition" (beside a fresh control on the same machine): the denoising pass is conditioned on the
# molecule's element counts, drawn from the training data's when sampling.
# Arm "element" (two seeds side by side, against the control above): the denoising pass is told each atom's
# element (one-hot per latent slot), compositions drawn from the training data's when sampling.
# Usage: ARM=grow|control|lag|canonical|composition|element [BUDGET=45m] [SEED=0] [GROW=3] [RUN=runs/grow-ARM] [THREADS=1] bash benchmarks/qm9/levers/launch.sh
cd "$(dirname "$0")/../../.."
: "${ARM:?set ARM to grow or control}" "${BUDGET:=45m}" "${SEED:=0}" "${GROW:=3}" "${RUN:=runs/grow-$ARM}"
case "$ARM" in
  grow) EXTRA="--grow-depth $GROW" ;;
  lag) EXTRA="--self-cond-lag 0.013333" ;;   # self-conditioning trained on the previous step's estimate (see README)
  canonical) EXTRA="--frame canonical" ;;   # each training molecule in its principal-axes frame
  composition) EXTRA="--composition-cond" ;;   # the denoiser is told the composition
  element) EXTRA="--element-cond" ;;   # the denoiser is told each atom's element
  control) EXTRA="" ;;
  *) echo "unknown ARM $ARM (grow, control, lag, canonical, composition or element)" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
exec .venv/bin/python -m unite_mol.train --run-dir "$RUN" --init-from unite_mol/pretrained/unite-qm9 \
  --lr 1e-4 --warmup 20 --lr-schedule cosine-budget --budget "$BUDGET" --seed "$SEED" \
  --ckpt-every 250 --log-every 25 --snapshots \
  --refine-layers 3 --local-weight 0.02 --bond-head --refiner-lr-mult 10 --self-cond --new-input-lr-mult 10 $EXTRA
