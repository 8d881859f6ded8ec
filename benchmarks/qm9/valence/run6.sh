#!/usr/bin/env bash
# Valence guidance, round 6: cheaper and better guidance of the sampler's predictions (1,000 samples, seed 0
# unless -s1, one torch thread per arm, two arms at a time). The arms ran on an experiment snapshot of the
# package, commit ab20138 plus round6/experiment.patch (environment switches, not kept in the package):
#   EXP_SAMPLER_STEPS=K  K Adam steps per guided prediction (else valence_steps), EXP_SAMPLER_LR=lr their rate,
#   EXP_EVERY=k          guide every k-th prediction at t >= valence_from,
#   EXP_NORM=s           instead one step of size s per prediction: g / rms(g) per molecule, or with
#   EXP_SOFT=c           g / (|g| + c rms(g)) (the soft sign step kept as valence_nudge),
#   EXP_TRUNK_BF16=1 / EXP_DEC_BF16=1  the guidance's decoder trunk / whole decoder under bf16 autocast.
# The first six arms (every2 ... ks2, bf16trunk, from0.8-every4) ran before the batches went side by side:
# batch 256, one batch after another, with the separate validity pre-pass; the b128-* arms at batch 128.
# Usage (after `git checkout ab20138 && git apply benchmarks/qm9/valence/round6/experiment.patch`):
#   SEED=0 bash benchmarks/qm9/valence/run6.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
arm() {   # NAME SAMPLER_OPTS [ENV=VALUE ...]
  local name=$1 opts=$2; shift 2
  env "$@" .venv/bin/python -m unite_mol.bench levers "$name=$M@$opts" --samples 1000 --recon 0 --seed "$S" \
    --threads 1 --out "benchmarks/qm9/valence/round6/$name-s$S"
}
arm every2 valence_steps=5,valence_from=0.9 EXP_EVERY=2
arm every3 valence_steps=5,valence_from=0.9 EXP_EVERY=3
arm ks1 valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=1
arm ks2 valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=2
arm bf16trunk valence_steps=5,valence_from=0.9 EXP_TRUNK_BF16=1
arm from0.8-every4 valence_steps=5,valence_from=0.8 EXP_EVERY=4
arm b128-default8 valence_steps=8                                   # (seed 0 and 1)
arm b128-optin valence_steps=5,valence_from=0.9
arm b128-ks1 valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=1
arm b128-ks2 valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=2
for lr in 0.06 0.1 0.15; do
  arm b128-ks1-lr$lr valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=$lr
done
arm b128-ks1-lr0.06-every2 valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=0.06 EXP_EVERY=2
arm b128-ks1-lr0.06-from0.95 valence_steps=8,valence_from=0.95 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=0.06
arm b128-ks1-lr0.1-every2 valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=0.1 EXP_EVERY=2
arm b128-ks1-lr0.1-from0.95 valence_steps=8,valence_from=0.95 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=0.1
arm b128-ks1-lr0.1-final16 valence_steps=16,valence_from=0.9 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=0.1
arm b128-s60-ks1-lr0.1 steps=60,valence_steps=8,valence_from=0.9 EXP_SAMPLER_STEPS=1 EXP_SAMPLER_LR=0.1
arm b128-norm0.1 valence_steps=8,valence_from=0.9 EXP_NORM=0.1
arm b128-norm0.2 valence_steps=8,valence_from=0.9 EXP_NORM=0.2
arm b128-soft0.3-lr0.1 valence_steps=8,valence_from=0.9 EXP_NORM=0.1 EXP_SOFT=0.3    # (seed 0 and 1)
arm b128-soft0.3-lr0.15 valence_steps=8,valence_from=0.9 EXP_NORM=0.15 EXP_SOFT=0.3
arm b128-soft0.3-lr0.15-every2 valence_steps=8,valence_from=0.9 EXP_NORM=0.15 EXP_SOFT=0.3 EXP_EVERY=2
arm b128-soft1-lr0.15 valence_steps=8,valence_from=0.9 EXP_NORM=0.15 EXP_SOFT=1
arm b128-soft1-lr0.25 valence_steps=8,valence_from=0.9 EXP_NORM=0.25 EXP_SOFT=1
arm b128-soft0.3-lr0.1-final4 valence_steps=4,valence_from=0.9 EXP_NORM=0.1 EXP_SOFT=0.3
arm b128-soft0.3-lr0.1-bf16dec valence_steps=8,valence_from=0.9 EXP_NORM=0.1 EXP_SOFT=0.3 EXP_DEC_BF16=1
arm b128-soft0.3-lr0.1-bf16trunk-final4 valence_steps=4,valence_from=0.9 EXP_NORM=0.1 EXP_SOFT=0.3 EXP_TRUNK_BF16=1
arm b128-soft0.3-lr0.1-bf16dec-final4 valence_steps=4,valence_from=0.9 EXP_NORM=0.1 EXP_SOFT=0.3 EXP_DEC_BF16=1
# the last one is generate()'s new default, bit for bit (checked on 32 samples); with the package at this
# round's commit: python -m unite_mol.bench levers new-default=$M --seed 1 --out .../round6/default-seed1
