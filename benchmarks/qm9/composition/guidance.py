"""Composition guidance (prototype): x = x_blind + w (x_told - x_blind), where x_told reads the drawn
composition and x_blind a zero condition (which the composition model starts from: its condition input
is zero-initialised, so a zero condition is the unconditioned model it was fine-tuned from).

Usage: python benchmarks/qm9/composition/guidance.py MODEL W N   -> one JSON line (appended to guidance.jsonl)
"""
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from unite_mol.bench.diagnose import failure_class
from unite_mol.data.qm9 import training_smiles
from unite_mol.generation import draw_composition, generate, load_model, sample_generator
from unite_mol.metrics import edm_stability, evaluate

path, w, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
model = load_model(path)
orig = model.sampling_denoiser


def guided_denoiser(mask, cond=None, *, cond_vec=None, **kw):
    told = orig(mask, cond, cond_vec=cond_vec, **kw)
    blind = orig(mask, cond, cond_vec=None if cond_vec is None else torch.zeros_like(cond_vec), **kw)
    return lambda z, t: (lambda xb, xt: xb + w * (xt - xb))(blind(z, t), told(z, t))


if w != 1.0:
    model.sampling_denoiser = guided_denoiser
table = torch.tensor(model.adapter.config.composition_hist)
want = [draw_composition(table, sample_generator(0, i)).numpy() for i in range(n)]
t0 = time.time()
mols = generate(n, seed=0, model=model, bonds="auto", progress=False)
gen_s = time.time() - t0
els = model.adapter.config.elements
followed = np.mean([np.array_equal(a, [(m.numbers == z).sum() for z in els]) for a, m in zip(want, mols)])
classes = Counter()
for m in mols:
    o, st = edm_stability(m)
    classes[failure_class(np.asarray(m.numbers), o, st)] += 1
r = evaluate(mols, reference=set(training_smiles()), protocols=("edm", "bonds")).metrics
row = {"model": path, "w": w, "n": n, "gen_s": round(gen_s, 1), "followed_%": round(100 * followed, 1),
       "classes": dict(classes), **{k: round(100 * r[k], 1) for k in ("edm/atom_stability", "edm/mol_stability",
       "edm/validity", "edm/connected", "edm/uniqueness", "edm/novelty", "bonds/mol_stability", "bonds/connected")}}
print(json.dumps(row))
with open(Path(__file__).with_name("guidance.jsonl"), "a") as fh:
    fh.write(json.dumps(row) + "\n")
