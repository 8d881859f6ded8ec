"""Usable samples in the strict sense of ``generate(valid_only=True)`` (sanitisable, one piece, no radicals):
the share of the first N samples (seed 0, generate()'s defaults) that pass, with each bond source.

    python benchmarks/qm9/usable.py [--model PATH] [--n 200] [--valence-steps K]
"""

import argparse
import time

from unite_mol import generate

p = argparse.ArgumentParser()
p.add_argument("--model", default=None)
p.add_argument("--n", type=int, default=200)
p.add_argument("--valence-steps", type=int, default=None, help="generate()'s valence_steps (default: its default)")
a = p.parse_args()
for bonds in ("model", "rdkit", "openbabel"):
    t = time.time()
    mols = generate(a.n, seed=0, model=a.model, bonds=bonds, progress=False, sampler={"valence_steps": a.valence_steps})
    ok = sum(not m.invalid_reason() for m in mols)   # "" = usable
    print(f"bonds={bonds}: {ok} of {a.n} usable ({100 * ok / a.n:.1f} %), {time.time() - t:.0f} s")
