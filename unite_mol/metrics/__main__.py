"""``python -m unite_mol.metrics FILE...``: the field's metrics for molecules in SDF/XYZ files.

Bonds and formal charges in the files are ignored: every protocol perceives bonds from the coordinates, as
for generated molecules (EDM's builds the molecule neutral; RDKit's and Open Babel's assign their own
charges), so a charge written in a file cannot make a molecule valid. Prints a table; ``--records out.csv`` writes the per-molecule records (what failed and why).

Bond perception compares every pair of atoms, so a molecule above ``--max-atoms`` atoms (default
:data:`MAX_ATOMS`) is refused (skipped with ``--lenient``) rather than allocating an N x N matrix. The
command exits with status 2 when nothing is left to score.
"""

from __future__ import annotations

import argparse
import sys

#: the largest molecule scored by default (pairwise matrices of this size take ~30 MB)
MAX_ATOMS = 2000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="SDF or XYZ files (optionally .gz)")
    p.add_argument("--novelty", action="store_true", help="novelty against the QM9 training split")
    p.add_argument("--geometry", action="store_true", help="also MMFF strain, bond/angle deviations, clashes")
    p.add_argument("--lenient", action="store_true",
                   help="skip unreadable records and oversized molecules (reported) instead of failing")
    p.add_argument("--max-atoms", type=int, default=MAX_ATOMS,
                   help="refuse molecules with more atoms (pairwise bond perception is quadratic in memory)")
    p.add_argument("--records", default=None, help="write per-molecule records to this CSV")
    args = p.parse_args(argv)
    if args.max_atoms < 1:
        print(f"error: --max-atoms must be >= 1, got {args.max_atoms}", file=sys.stderr)
        return 2

    from unite_mol import io
    from unite_mol.metrics import evaluate

    mols = []
    for f in args.files:
        try:
            got = io.read(f, strict=not args.lenient)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for e in getattr(got, "errors", []):
            print(f"skipped {f}: {e}", file=sys.stderr)
        for k, m in enumerate(got, 1):
            if m.num_atoms > args.max_atoms:
                what = (f"{f}: molecule {k} ({m.properties.get('name', 'unnamed')}) has {m.num_atoms} atoms; the "
                        f"metrics score molecules of up to --max-atoms {args.max_atoms} (bond perception compares "
                        f"every atom pair)")
                if not args.lenient:
                    print(f"error: {what}", file=sys.stderr)
                    return 2
                print(f"skipped {what}", file=sys.stderr)
                continue
            mols.append(m.replace(bonds=None, charges=None))
    if not mols:
        print(f"error: no molecules to score in {', '.join(args.files)} (every record was unreadable or too large)",
              file=sys.stderr)
        return 2
    reference = None
    if args.novelty:
        from unite_mol.data.qm9 import training_smiles

        reference = training_smiles()
    result = evaluate(mols, reference=reference, geometry=args.geometry)
    width = max(len(k) for k in result.metrics)
    for k, v in result.metrics.items():
        print(f"{k:<{width}}  {v:.4f}" if k != "n" else f"{k:<{width}}  {int(v)}")
    if args.records:
        result.records.to_csv(args.records, index=False)
        print(f"per-molecule records: {args.records}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
