#!/usr/bin/env bash
# Score a model brought back by benchmarks/qm9/gpu/run.sh (on this CPU: generate(1000) at generate()'s
# defaults, EDM / Open Babel / predicted-bond protocols, reconstruction on 1,000 test molecules).
# Usage: bash benchmarks/qm9/gpu/score.sh FILES_AT [NAME]     (FILES_AT: the folder the device tool returned)
set -euo pipefail
cd "$(dirname "$0")/../../.."
src=${1:?the folder with model.json and model.pt.part*}
name=${2:-$(date -u +%Y-%m-%d-%H%M)}
dest=runs/gpu/$name
mkdir -p "$dest" "benchmarks/qm9/gpu/$name"
cat "$src"/model.pt.part* > "$dest/model.pt"
cp "$src/model.json" "$dest/model.json"
for f in machine.txt train.log metrics-eval.jsonl; do [ -f "$src/$f" ] && cp "$src/$f" "benchmarks/qm9/gpu/$name/"; done
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
.venv/bin/python -m unite_mol.bench levers "gpu=$dest/model" --samples "${SAMPLES:-1000}" --recon "${RECON:-1000}" --seed 0 \
  --threads "${THREADS:-2}" --out "benchmarks/qm9/gpu/$name"
