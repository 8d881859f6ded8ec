"""Collapse the per-arm results of superseded rounds into one CSV of key columns (written to stdout).

Each study's ``rounds.csv`` was made this way from the tree at commit 99eebac, where every arm still had its
own folder (``results.csv`` or ``results.json`` from ``python -m unite_mol.bench levers`` / ``bench qm9``, and
``machine.json``)::

    git worktree add /tmp/bench-99eebac 99eebac
    python benchmarks/collapse.py --root /tmp/bench-99eebac benchmarks/qm9/valence > benchmarks/qm9/valence/rounds.csv

Rates are percentages (EDM protocol unless the column says ``ob_`` = Open Babel or ``pred_`` = the model's
predicted bonds); ``source`` is the arm's folder at that commit (``git show 99eebac:<source>/results.md``).
"""
import argparse
import csv
import json
import pathlib
import re
import sys
KEYS = [("atom_stab", "gen/edm/atom_stability"), ("mol_stab", "gen/edm/mol_stability"),
        ("valid", "gen/edm/validity"), ("valid_conn", "gen/edm/connected"), ("unique", "gen/edm/uniqueness"),
        ("novel", "gen/edm/novelty"), ("ob_valid_conn", "gen/openbabel/connected"),
        ("pred_atom_stab", "gen/bonds/atom_stability"), ("pred_mol_stab", "gen/bonds/mol_stability"),
        ("pred_valid_conn", "gen/bonds/connected"), ("recon_match", "recon/match_adit"), ("recon_rmsd", "recon/rmsd")]
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--root", default=".", help="repository root to read from (e.g. a worktree at 99eebac)")
ap.add_argument("folders", nargs="+", help="benchmark folders, relative to the root")
args = ap.parse_args()
root = pathlib.Path(args.root)
files = sorted({(f.parent / "results.csv") if (f.parent / "results.csv").exists() else f
                for d in args.folders for f in list((root / d).rglob("results.csv")) + list((root / d).rglob("results.json"))})
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["source", "arm", "sample_seed", "samples", "sampler"] + [k for k, _ in KEYS] + ["generate_s", "cpu", "date", "commit"])
for f in files:
    m = f.parent / "machine.json"
    mj = json.loads(m.read_text()) if m.exists() else {}
    cmd = mj.get("command", "")
    seed = re.search(r"--seed (\d+)", cmd); seed = seed.group(1) if seed else ("0" if cmd else "")  # both benches default to seed 0
    if f.suffix == ".csv":
        rows = list(csv.DictReader(f.open()))
    else:
        d = json.loads(f.read_text())
        if not isinstance(d, list) or not d or "gen/edm/atom_stability" not in d[0]:
            continue
        rows = d
    for r in rows:
        name = r.get("name") or r.get("entry") or ""
        if name.startswith("QM9 test data"):
            continue
        def g(c):
            v = r.get(c, ""); v = "" if v is None else v
            try: return f"{100*float(v):.2f}" if c != "recon/rmsd" else f"{float(v):.4f}"
            except ValueError: return ""
        gs = r.get("generate_s", "") or ""
        w.writerow([str(f.parent.relative_to(root)), name, seed, r.get("samples") or r.get("gen/n", "") or "",
                    str(r.get("sampler", "") or "")] + [g(c) for _, c in KEYS] +
                   [gs, mj.get("cpu", ""), mj.get("date", "")[:16], (mj.get("commit") or "")[:7]])
