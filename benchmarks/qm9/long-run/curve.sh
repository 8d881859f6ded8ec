#!/usr/bin/env bash
# Learning curve of generation vs cumulative training time: the model the run started from and every
# snapshot of the long run, 500 samples each (seed 0, generate()'s defaults), no reconstruction.
# Cumulative minutes = the shipped model's 3,850 s + arm D's 1,203 s + the long run's own seconds.
cd "$(dirname "$0")/../../.."
RUN=${RUN:-runs/long}
OFFSET=${OFFSET:-5053}
args=("start-84min=${INIT:-runs/levers/D/model}")
for js in "$RUN"/snapshots/model-*.json; do
  m=$(.venv/bin/python -c "import json,sys; d=json.load(open(sys.argv[1])); print(round((d['training']['elapsed_s']+$OFFSET)/60))" "$js")
  args+=("${m}min=${js%.json}")
done
.venv/bin/python -m unite_mol.bench levers "${args[@]}" --samples 500 --recon 0 --seed 0 --threads 2 \
  --out benchmarks/qm9/long-run/curve
