"""Do an element-conditioned model's latents decode to the elements its atoms were told?

generate() gives each atom of such a model the element it drew for it (the told element). This script
makes the same samples twice (same seed, so the same latents) and reads the elements once as told and
once from the decoder's element head, and reports how often the two agree (per atom and per molecule) and
the EDM metrics of both readings, so a reader sees what keeping the told elements changes.

Usage: python benchmarks/qm9/levers/agreement.py MODEL [N=1000] [SEED=0]  (prints one JSON line)
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(argv: list[str]) -> int:

    from unite_mol.generation import generate, load_model
    from unite_mol.metrics import evaluate

    path = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 1000
    seed = int(argv[2]) if len(argv) > 2 else 0
    model = load_model(path)
    t0 = time.time()
    told = generate(n, model=model, seed=seed, bonds=None, progress=False)
    own = model.adapter.to_arrays                    # read the element head instead of the told elements
    model.adapter.to_arrays = lambda out, mask, ids=None: own(out, mask)
    try:
        head = generate(n, model=model, seed=seed, bonds=None, progress=False)
    finally:
        model.adapter.to_arrays = own
    agree = [a.numbers == b.numbers for a, b in zip(told, head)]
    row = {"model": path, "n": n, "seed": seed,
           "atoms_agree": float(np.concatenate(agree).mean()),
           "molecules_all_agree": float(np.mean([a.all() for a in agree])),
           "same_positions": all(np.allclose(a.positions, b.positions) for a, b in zip(told, head)),
           "wall_s": round(time.time() - t0, 1)}
    for name, mols in (("told", told), ("head", head)):
        m = evaluate([(x.numbers, x.positions) for x in mols], protocols=("edm",)).metrics
        row[name] = {k: round(float(m[f"edm/{k}"]), 4) for k in ("atom_stability", "mol_stability", "validity",
                                                                  "connected")}
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
