"""Which atoms are still EDM-unstable at generate()'s defaults, and does the bond head agree?

For each EDM-unstable atom: its element, whether the bond head's bonds give it its valence (aromatic bonds
1.5) or too little / too much, whether EDM's distance reading gives it too little or too much, and whether it
has an aromatic bond by the head. Percentages of all atoms.

    python benchmarks/qm9/valence/round8/atoms.py --n 1000 > benchmarks/qm9/valence/round8/atoms.txt
"""
import argparse
import collections

import numpy as np

from unite_mol import generate
from unite_mol.metrics.edm_tables import allowed_valence_table
from unite_mol.metrics import edm_stability

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1000)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
mols = generate(args.n, seed=args.seed, bonds="model", progress=False)
allowed = allowed_valence_table()
counts: collections.Counter = collections.Counter()
atoms = unstable = 0
for m in mols:
    orders, stable = edm_stability(m)
    head = np.zeros(m.num_atoms)
    aromatic = np.zeros(m.num_atoms, dtype=bool)
    for i, j, o in m.bonds:
        head[[i, j]] += 1.5 if o == 4 else o
        aromatic[[i, j]] |= o == 4
    for k, z in enumerate(m.numbers):
        atoms += 1
        if stable[k]:
            continue
        unstable += 1
        want = allowed[int(z)][0]
        d = head[k] - want
        counts[(int(z), "ok" if abs(d) < 1e-3 else ("over" if d > 0 else "under"),
                "over" if orders[k].sum() > want else "under", bool(aromatic[k]))] += 1
print(f"{args.n} samples, seed {args.seed}, generate() defaults: {atoms} atoms, {100 * unstable / atoms:.2f} % EDM-unstable")
print("element | head valence | EDM valence | aromatic (head) | % of all atoms")
for (z, h, e, a), v in counts.most_common():
    print(f"{z} | {h} | {e} | {'yes' if a else 'no'} | {100 * v / atoms:.2f}")
