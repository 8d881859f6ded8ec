#!/usr/bin/env bash
# Valence guidance round 10: restarts. After the sampler and the final valence steps, each molecule the bond
# head does not call done (guidance's own stopping rule: head graph valid, confident, distances inside EDM's
# windows for it) is noised back to time restart_from with fresh noise from its own stream and integrated again
# to t = 1 (the sampler's steps over that stretch, nudges and final valence steps included), up to `restarts`
# times. Nothing but the model's own outputs decides who restarts. 1,000 samples per arm, one torch thread per
# arm, two arms at a time (run11.sh's harness, writing to round10/).
# What ran (2026-12-06): seed 0, from a snapshot of 33ede3f's package before generate() took restarts= (the arms
# set generate_samples' defaults instead; kekulé windows and gate, valences counted with aromatic bonds 1.5, every
# molecule nudged). The same arms through generate()'s keywords at a later commit also count kekulé valences and
# skip done molecules' nudges (round 11: the same samples to within noise).
# Usage: SEED=0 bash benchmarks/qm9/valence/run10.sh
set -euo pipefail
ROUND=10 ARMS=${ARMS:-"r1=restarts=1 r2=restarts=2 r1-from0.8=restarts=1,restart_from=0.8 r0=restarts=0"} \
  exec bash "$(dirname "$0")/run11.sh"
