#!/usr/bin/env bash
# Issue 30, part 3: UNITE against the two-stage baseline on QM9 at two CPU-hours per entry (the 15-minute result
# in README.md made no usable molecules), through the bench's one training path, with the physics columns.
# The two entries of one seed train side by side on the two cores (one torch thread each), so the pair compared
# shares the same load; one seed per sitting: SEED=0 first, then SEED=1. With ABLATIONS=1 the no-stop-gradient and
# separate-weights entries instead, at half that budget (labelled by their folder). With LNSG=1 (issue 26) the UNITE
# entry alone with the stop-gradient also over the latent LayerNorm's gain and bias (`--latent-norm-stop-grad`), to
# set beside the same seed's `unite` entry; run it beside another 1-thread job so the load matches.
# About 2 h 15 min of wall-clock per seed on an idle 2-core machine (2 h of training, then the evaluation).
# Resumable (`bench qm9 --resume`): entries checkpoint every 10 minutes (TrainConfig.ckpt_every_s) under
# runs/eq<tag>-s<seed>/cpu/<entry>; rerunning the script goes on from there (a finished entry trains no further
# and is only scored). Results: benchmarks/qm9/equal-compute/<tag>-seed<seed>-<entry>/ (one folder per entry;
# the QM9-test data row is in the first entry's folder).
# Usage: SEED=0 bash benchmarks/qm9/equal-compute/launch-2h.sh      [ABLATIONS=1 for the half-budget ablations,
#        LNSG=1 for the latent-norm stop-gradient arm]
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-0}
mkdir -p runs/logs
export MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1 OMP_NUM_THREADS=1
flags=(); first=1
if [[ "${ABLATIONS:-0}" == 1 ]]; then entries=(unite-no-stopgrad unite-separate) budget=1h tag=ablations-1h
elif [[ "${LNSG:-0}" == 1 ]]; then entries=(unite) budget=2h tag=2h-lnsg flags=(--latent-norm-stop-grad) first=0
else entries=(unite two-stage) budget=2h tag=2h; fi
pids=()
for entry in "${entries[@]}"; do
  extra=("${flags[@]}"); ((first)) || extra+=(--no-data-row); first=0
  "$PY" -m unite_mol.bench qm9 --preset cpu --entries "$entry" --budget "$budget" --seed "$SEED" "${extra[@]}" \
    --out "benchmarks/qm9/equal-compute/$tag-seed$SEED-$entry" --runs "runs/eq$tag-s$SEED" --resume \
    >> "runs/logs/eq$tag-s$SEED-$entry.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
