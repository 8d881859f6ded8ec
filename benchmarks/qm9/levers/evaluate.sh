#!/usr/bin/env bash
# Score the four lever arms with one command (same seed, 1,000 samples at generate()'s defaults, 500 test
# molecules for reconstruction), then the shipped model they started from, in the same harness.
cd "$(dirname "$0")/../../.."
.venv/bin/python -m unite_mol.bench levers start=unite_mol/pretrained/unite-qm9 \
  A=runs/levers/A/model B=runs/levers/B/model C=runs/levers/C/model D=runs/levers/D/model \
  --samples 1000 --recon 500 --seed 0 --threads 2 --out benchmarks/qm9/levers
