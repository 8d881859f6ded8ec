#!/usr/bin/env bash
# Issue 30 part 1: layer-by-layer alignment of the GE's tokenization and denoising passes (bench alignment).
# 1. the shipped QM9 model, 512 test molecules;
# 2. small models trained here, one thread each, one after another (labelled small/short in the README):
#    Fashion-MNIST IM-T UNITE and two-stage (4 min each; the two-stage baseline 2 + 2), QM9 GE-T UNITE and its
#    separate-weights / no-stop-gradient ablations and the two-stage baseline (3 min each, warm-up 100 steps);
#    each domain's models compared in one call (256 images / 512 molecules).
# Usage: bash benchmarks/alignment/launch.sh   (about 35 minutes on 2 shared cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
mkdir -p runs/logs
$PY -m unite_mol.bench alignment shipped=unite_mol/pretrained/unite-qm9 --n 512 --threads 1 \
  --out benchmarks/alignment/qm9-shipped
$PY -m unite_mol.images.train --run-dir runs/fm-unite --preset IM-T --budget 4m --steps 100000 --ckpt-every 200 --seed 0
$PY -m unite_mol.images.train --run-dir runs/fm-two-stage --preset IM-T --budget 4m --steps 100000 --ckpt-every 200 \
  --seed 0 --two-stage
for arm in unite separate-weights no-stop-grad two-stage; do
  flag=""; [ "$arm" != unite ] && flag="--$arm"
  $PY -m unite_mol.train --run-dir "runs/qm9-$arm" --preset GE-T --budget 3m --warmup 100 --seed 0 --ckpt-every 200 $flag
done
$PY -m unite_mol.bench alignment unite=runs/fm-unite/model two-stage=runs/fm-two-stage/model --n 256 --threads 1 \
  --out benchmarks/alignment/fmnist-small
$PY -m unite_mol.bench alignment unite=runs/qm9-unite/model separate-weights=runs/qm9-separate-weights/model \
  no-stop-grad=runs/qm9-no-stop-grad/model two-stage=runs/qm9-two-stage/model --n 512 --threads 1 \
  --out benchmarks/alignment/qm9-small
# 3. the 60-minute Fashion-MNIST ablation models, when benchmarks/images/ablation/launch.sh has trained them
if [ -f runs/img-abl-two-stage-sincos/model.pt ]; then
  $PY -m unite_mol.bench alignment unite=runs/img-abl-unite/model sincos=runs/img-abl-sincos/model \
    separate=runs/img-abl-separate/model no-stopgrad=runs/img-abl-no-stopgrad/model \
    two-stage=runs/img-abl-two-stage/model two-stage-sincos=runs/img-abl-two-stage-sincos/model --n 256 --threads 1 \
    --out benchmarks/alignment/fmnist-ablation
fi
# 4. the two-CPU-hour QM9 entries of ../qm9/equal-compute (seed 0), when launch-2h.sh has trained and scored them
if [ -f runs/eq2h-s0/cpu/two-stage/model.pt ]; then
  $PY -m unite_mol.bench alignment unite=runs/eq2h-s0/cpu/unite/model two-stage=runs/eq2h-s0/cpu/two-stage/model \
    --n 512 --threads 1 --out benchmarks/alignment/qm9-2h-seed0
fi
