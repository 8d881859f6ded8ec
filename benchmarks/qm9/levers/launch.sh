#!/usr/bin/env bash
# Lever study arms: fine-tunes of the shipped model, equal wall-clock, seed 0, 1 torch thread each, run together.
cd "$(dirname "$0")/../../.."
COMMON="--init-from unite_mol/pretrained/unite-qm9 --lr 1e-4 --warmup 20 --lr-schedule cosine-budget --budget 20m --seed 0 --ckpt-every 100 --log-every 10"
REF="--refine-layers 3 --local-weight 0.02 --bond-head --refiner-lr-mult 10"
TMIX="--time-uniform-frac 0.5 --time-uniform-min 0.8"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
for arm in A B C D; do
  case $arm in
    A) extra="";;
    B) extra="$TMIX";;
    C) extra="$REF";;
    D) extra="$REF $TMIX";;
  esac
  nohup .venv/bin/python -m unite_mol.train --run-dir runs/levers/$arm $COMMON $extra > runs/levers/$arm.log 2>&1 &
done
wait
