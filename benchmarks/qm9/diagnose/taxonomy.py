"""Why generated molecules fail EDM's stability check: precision of bond lengths or wrong connectivity.

For each sample (``generate()`` at its defaults unless a model is given), EDM's distance rules give bond
orders. An unstable molecule is then put in one class:

- ``orders only``: the connectivity (which pairs are bonded, ignoring orders) admits bond orders 1-3 that
  give every atom its EDM valence (H 1, C 4, N 3, O 2, F 1): the atoms are in the right places, only the
  lengths that tell single from double / triple are off;
- ``connectivity, formula feasible``: no orders fit this connectivity (an atom with too many or too few
  neighbours, a missing bond), but the element counts would allow a neutral, connected molecule;
- ``formula infeasible``: the element counts themselves allow none (odd valence sum, or too few
  valences to connect the atoms): the composition is wrong, whatever the coordinates.

The classes are :func:`unite_mol.bench.diagnose.failure_class` (also in ``bench diagnose``'s report).

Usage: python benchmarks/qm9/diagnose/taxonomy.py [--model PATH | --data] [--n 1000] [--seed 0] [--out DIR]
(``--data``: the first N molecules of the QM9 test split instead of samples, as calibration.)
Writes results.json and results.md into --out (default: this folder).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

VALENCE = {1: 1, 6: 4, 7: 3, 8: 2, 9: 1}   # EDM's valences of QM9's elements (for the under / over count)


def main(argv: list[str] | None = None) -> int:
    from unite_mol.bench.diagnose import failure_class
    from unite_mol.generation import generate, load_model
    from unite_mol.metrics import edm_stability

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--data", action="store_true", help="classify QM9 test molecules instead of samples")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent))
    args = p.parse_args(argv)
    t0 = time.time()
    if args.data:
        from unite_mol.data import qm9
        from unite_mol.molecule import Molecule

        test = qm9("test")
        mols = [Molecule(test.numbers[a:b], test.positions[a:b]) for a, b in zip(test.offsets[:args.n], test.offsets[1:args.n + 1])]
    else:
        mols = generate(args.n, seed=args.seed, model=load_model(args.model), bonds=None, progress=False)
    classes: Counter = Counter()
    unstable_atoms: Counter = Counter()
    per_mol_unstable = []
    for m in mols:
        orders, stable = edm_stability(m)
        if stable.all():
            classes["stable"] += 1
            continue
        per_mol_unstable.append(int((~stable).sum()))
        for z, ok, v in zip(m.numbers, stable, orders.sum(1)):
            if not ok:
                unstable_atoms[f"{int(z)}:{'under' if v < VALENCE.get(int(z), 0) else 'over'}"] += 1
        label = failure_class(np.asarray(m.numbers), orders, stable)
        classes[{"connectivity": "connectivity, formula feasible", "composition": "formula infeasible"}.get(label, label)] += 1
    res = {"model": "QM9 test split" if args.data else args.model or "shipped", "n": args.n, "seed": args.seed, "seconds": round(time.time() - t0, 1),
           "classes": dict(classes), "unstable_atoms_per_unstable_molecule": Counter(per_mol_unstable),
           "unstable_atoms": dict(unstable_atoms), "command": "python " + " ".join(sys.argv)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    names = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}
    lines = [f"Command: `{res['command']}`; {args.n} samples, seed {args.seed}.", "",
             "| class | molecules | % |", "|---|---|---|"]
    lines += [f"| {k} | {v} | {100 * v / args.n:.1f} |" for k, v in sorted(classes.items(), key=lambda kv: -kv[1])]
    lines += ["", "| unstable atom | count |", "|---|---|"]
    lines += [f"| {names.get(int(k.split(':')[0]), k)} {k.split(':')[1]} | {v} |"
              for k, v in sorted(unstable_atoms.items(), key=lambda kv: -kv[1])]
    lines += ["", "Unstable atoms per unstable molecule: " +
              ", ".join(f"{k}: {v}" for k, v in sorted(Counter(per_mol_unstable).items()))]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
