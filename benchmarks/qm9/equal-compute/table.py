"""One table of the equal-compute entries across seeds (issue 30, part 3), from the per-entry folders that
``launch-2h.sh`` writes (``<tag>-seed<S>-<entry>/results.csv``); markdown on stdout: per entry, the mean over the
seeds found and, with two seeds, +- half their difference; the seeds each value rests on are listed.

    python benchmarks/qm9/equal-compute/table.py 2h            # the main pair
    python benchmarks/qm9/equal-compute/table.py ablations-1h  # the half-budget ablations
    python benchmarks/qm9/equal-compute/table.py 2h 2h-lnsg    # several tags in one table, entries labelled by tag
"""
import argparse
import pathlib
import re

import pandas as pd

HERE = pathlib.Path(__file__).parent
COLUMNS = [  # (header, results.csv column, scale, digits)
    ("train steps", "steps", 1, 0), ("recon match %", "recon/match_adit", 100, 1), ("recon RMSD A", "recon/rmsd", 1, 3),
    ("atom stab %", "gen/edm/atom_stability", 100, 1), ("mol stab %", "gen/edm/mol_stability", 100, 1),
    ("valid+conn % (EDM)", "gen/edm/connected", 100, 1), ("valid+conn % (Open Babel)", "gen/openbabel/connected", 100, 1),
    ("unique %", "gen/edm/uniqueness", 100, 1), ("usable % (own bonds)", "phys/usable/own", 100, 1),
    ("PoseBusters % (own bonds)", "phys/posebusters/own", 100, 1), ("xTB n", "phys/xtb/n", 1, 0),
    ("xTB median kcal/mol", "phys/xtb/relax_median_kcal", 1, 1), ("W1 C-C mA", "phys/w1/bond/C-C", 1, 1),
    ("W1 C-C-C deg", "phys/w1/angle/C-C-C", 1, 1),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tags", nargs="+", help="run tags: 2h, ablations-1h, 2h-lnsg")
    args = ap.parse_args()
    rows = []
    for tag in args.tags:
        for f in sorted(HERE.glob(f"{tag}-seed*-*/results.csv")):
            seed = int(re.match(rf"{re.escape(tag)}-seed(\d+)-", f.parent.name).group(1))
            df = pd.read_csv(f)
            df = df[~df["entry"].astype(str).str.startswith("QM9 test data")]   # the calibration row: its own table
            for _, r in df.iterrows():
                label = r["entry"] if len(args.tags) == 1 else f"{r['entry']} [{tag}]"
                rows.append({"seed": seed, **r.to_dict(), "entry": label})
    if not rows:
        raise SystemExit(f"no results under {HERE}/{{{','.join(args.tags)}}}-seed*-*/")
    table = pd.DataFrame(rows)
    print("| entry | seeds | " + " | ".join(h for h, *_ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for entry, g in table.groupby("entry", sort=False):
        cells = []
        for _, col, scale, digits in COLUMNS:
            v = g[col].dropna() * scale if col in g else pd.Series(dtype=float)
            if v.empty:
                cells.append("-")
            elif len(v) == 1:
                cells.append(f"{v.iloc[0]:.{digits}f}")
            else:
                cells.append(f"{v.mean():.{digits}f} +- {(v.max() - v.min()) / 2:.{digits}f}")
        print(f"| {entry} | {','.join(str(s) for s in sorted(g['seed']))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
