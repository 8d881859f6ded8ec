#!/usr/bin/env bash
# Fashion-MNIST, why UNITE loses on images (issue 30): the arms of arms.txt, 60 CPU-minutes of training each
# (twice the budget of benchmarks/images/fmnist), two side by side on the two cores (one torch thread each), then
# one evaluation of all (2,000 test images / samples per guidance scale, 25 Heun steps, guidance 1 and 2) that
# also draws the learning curves (PSNR / SSIM of 256 fixed test images at every checkpoint, at least every 5 min).
# Resumable: run it again and finished arms return at once, an interrupted one goes on from its checkpoint.
# Usage: bash benchmarks/images/ablation/launch.sh   (about 61 min per pair on an otherwise idle 2-core machine,
# seven pairs, then about 25 min of evaluation of every arm)
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/img-abl-eval}
ARMS_FILE=benchmarks/images/ablation/arms.txt
mkdir -p runs/logs
export MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1

names=(); flags=()
while read -r name rest; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  names+=("$name"); flags+=("$rest")
done < "$ARMS_FILE"

train() {  # arm index; in the background, its log in runs/logs
  local name=${names[$1]}
  # shellcheck disable=SC2086  # the arm's flags are words
  OMP_NUM_THREADS=1 "$PY" -m unite_mol.images.train --run-dir "runs/img-abl-$name" --preset IM-T --budget 60m \
    --steps 100000 --ckpt-every 2000 --ckpt-every-s 300 --seed 0 ${flags[$1]} >> "runs/logs/img-abl-$name.log" 2>&1 &
}

for ((i = 0; i < ${#names[@]}; i += 2)); do
  echo "[ablation] $(date +%T) training ${names[*]:i:2}"
  train "$i"; pids=($!)
  if ((i + 1 < ${#names[@]})); then train $((i + 1)); pids+=($!); fi
  for pid in "${pids[@]}"; do wait "$pid"; done   # a failed arm stops the script (its log says why); rerun to resume
done

models=(); runs=()
for name in "${names[@]}"; do models+=("$name=runs/img-abl-$name/model"); runs+=("$name=runs/img-abl-$name"); done
echo "[ablation] $(date +%T) evaluating"
OMP_NUM_THREADS=2 "$PY" -m unite_mol.images.evaluate "${models[@]}" --out "$OUT" --n 2000 --steps 25 \
  --guidance 1,2 --seed 0 --runs "${runs[@]}"
