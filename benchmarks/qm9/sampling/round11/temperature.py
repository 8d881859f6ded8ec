"""Round 11 prototype: the stochastic sampler's fresh noise scaled by tau (low-temperature sampling, as
protein flow models use it: the noise part then settles at variance tau^2 instead of 1).

Usage: python benchmarks/qm9/sampling/round11/temperature.py NAME TAU N [SEED] [JSON of SamplerConfig fields]
Appends one row to temperature.jsonl next to this file.
"""
import json, sys, time
from pathlib import Path
import torch
import unite_mol.generation as G
import unite_mol.sampling.sampler as S
from unite_mol.metrics import evaluate
from unite_mol.data.qm9 import training_smiles

name, tau, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
orig = S.sample
def patched(denoise, z, **kw):
    sn = kw.get("step_noise")
    if sn is not None:
        kw["step_noise"] = lambda like: sn(like) * tau
    return orig(denoise, z, **kw)
S.sample = patched
model = G.load_model()
t0 = time.time()
mols = G.generate(n, seed=seed, model=model, bonds="auto", progress=False, sampler=extra)
gs = time.time() - t0
res = evaluate(mols, reference=set(training_smiles()), protocols=("edm", "openbabel", "bonds"))
m = res.metrics
row = dict(name=name, tau=tau, n=n, seed=seed, extra=extra, gen_s=round(gs, 1),
           **{k: round(100 * m[k], 2) for k in ("edm/atom_stability", "edm/mol_stability", "edm/validity", "edm/connected",
              "edm/uniqueness", "edm/novelty", "openbabel/connected", "bonds/atom_stability", "bonds/mol_stability", "bonds/connected") if k in m})
print(json.dumps(row))
with open(Path(__file__).with_name("temperature.jsonl"), "a") as fh:
    fh.write(json.dumps(row) + "\n")
