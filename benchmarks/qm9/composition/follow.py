"""How closely a composition-conditioned model follows the compositions generate() draws for it, and its failure classes.

Usage: python benchmarks/qm9/composition/follow.py MODEL N   (seed 0)
"""
import sys, numpy as np, torch
from collections import Counter
from unite_mol.generation import generate, load_model, sample_generator, draw_composition
from unite_mol.bench.diagnose import failure_class
from unite_mol.metrics import edm_stability
path, n = sys.argv[1], int(sys.argv[2])
m = load_model(path)
table = torch.tensor(m.adapter.config.composition_hist)
want = [draw_composition(table, sample_generator(0, i)).numpy() for i in range(n)]
mols = generate(n, seed=0, model=m, bonds=None, progress=False)
els = m.adapter.config.elements
got = [np.array([(x.numbers == z).sum() for z in els]) for x in mols]
same = np.mean([np.array_equal(a, b) for a, b in zip(want, got)])
diff = Counter(int(np.abs(a - b).sum()) for a, b in zip(want, got))
cls = Counter()
for x in mols:
    o, st = edm_stability(x); cls[failure_class(np.asarray(x.numbers), o, st)] += 1
print(path, "composition followed exactly:", round(100 * same, 1), "% ; L1 diff hist", sorted(diff.items()), dict(cls))
