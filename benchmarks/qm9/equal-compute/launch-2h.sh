#!/usr/bin/env bash
# Issue 30, part 3 (prepared, not run yet): UNITE against the two-stage baseline on QM9 at two CPU-hours per
# entry (the 15-minute result in README.md made no usable molecules), seeds 0 and 1 side by side on the two cores
# (one torch thread each), through the bench's one training path, with the physics columns; then, if ABLATIONS=1,
# the no-stop-gradient and separate-weights entries at half that budget (labelled by their folder).
# About 4 h 20 min of wall-clock on an idle 2-core machine for the main pair, 2 h 20 min more for the ablations.
# Resumable (`bench qm9 --resume`): entries checkpoint every 10 minutes (TrainConfig.ckpt_every_s) under
# runs/eq<tag>-s<seed>/cpu/<entry>; rerunning the script goes on from there (a finished entry trains no further;
# each call scores every entry it trained or resumed).
# Usage: bash benchmarks/qm9/equal-compute/launch-2h.sh            [ABLATIONS=1 for the half-budget ablations]
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv/bin/python}
mkdir -p runs/logs
export MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1 OMP_NUM_THREADS=1
if [[ "${ABLATIONS:-0}" == 1 ]]; then entries=unite-no-stopgrad,unite-separate budget=1h tag=ablations-1h
else entries=unite,two-stage budget=2h tag=2h; fi
pids=()
for seed in 0 1; do
  "$PY" -m unite_mol.bench qm9 --preset cpu --entries "$entries" --budget "$budget" --seed "$seed" \
    --out "benchmarks/qm9/equal-compute/$tag-seed$seed" --runs "runs/eq$tag-s$seed" --resume \
    >> "runs/logs/eq$tag-s$seed.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
