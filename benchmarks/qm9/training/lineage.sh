#!/usr/bin/env bash
# Generation vs cumulative training time for the whole lineage of the shipped model, every point scored
# the same way: 500 samples (seed 0), 50 stochastic steps at strength 32 (generate()'s default when this ran;
# pinned here so a re-run scores the same way whatever the default becomes),
# EDM and predicted-bond protocols, no reconstruction. Earlier scorings used the sampler of their day.
# Cumulative CPU-minutes (2-core development machine): first shipped model 3,850 s; lever arm D +1,203 s;
# long run +4,801 s (snapshots at 1,000 and 2,000 steps); round-2 arm F +2,404 s; second long run +3,001 s
# (= the model shipped until this session); round-3 arm I (+ distance feedback) +1,503 s.
# The three shipped models come from git history (float16, as users got them); the others are run folders of earlier sessions
# (not committed). LATEST adds points made later: give each as NAME=PATH@method=stochastic,noise_level=32.0,steps=50.
# Ran at a125ec9 (2026-11-29, Intel Xeon, 2 threads); its rows are the benchmarks/qm9/history rows of rounds.csv.
# Usage: [THREADS=2] [LATEST="NAME=PATH@... ..."] [OUT=runs/lineage] bash benchmarks/qm9/training/lineage.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
H=runs/history
S="@method=stochastic,noise_level=32.0,steps=50"
for pair in first:3912a0f long1:8d9ecdc long2:15b1826; do  # name:commit that shipped it
  mkdir -p "$H/${pair%:*}"
  for ext in pt json; do git show "${pair#*:}:unite_mol/pretrained/unite-qm9.$ext" > "$H/${pair%:*}/model.$ext"; done
done
.venv/bin/python -m unite_mol.bench levers 064min-first=$H/first/model$S 084min-armD=runs/levers/D/model$S \
  124min=runs/long/snapshots/model-0001000$S 150min=runs/long/snapshots/model-0002000$S \
  164min-long1=$H/long1/model$S 204min-armF=runs/r2-F/model$S 254min-long2=$H/long2/model$S \
  279min-armI=runs/r3-I/model$S ${LATEST:-} \
  --samples 500 --recon 0 --seed 0 --threads "$OMP_NUM_THREADS" --out "${OUT:-runs/lineage}"
