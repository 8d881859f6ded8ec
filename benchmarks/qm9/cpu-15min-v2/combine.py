"""Two seeds of the QM9 CPU preset side by side: per entry and metric, the mean of seed 0 and seed 1 and
half their difference (the noise the table states).

    .venv/bin/python benchmarks/qm9/cpu-15min-v2/combine.py > benchmarks/qm9/cpu-15min-v2/SEEDS.md
"""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
METRICS = [("steps", "train steps", 1), ("recon/match_adit", "recon match %", 100), ("recon/rmsd", "recon RMSD A", 1),
           ("gen/edm/atom_stability", "atom stab %", 100), ("gen/edm/mol_stability", "mol stab %", 100),
           ("gen/edm/validity", "valid % (EDM)", 100), ("gen/edm/connected", "valid+conn % (EDM)", 100),
           ("gen/openbabel/connected", "valid+conn % (OB)", 100), ("gen/edm/uniqueness", "unique %", 100)]


def main() -> None:
    runs = {s: pd.read_csv(HERE / f"seed{s}" / "results.csv").set_index("entry") for s in (0, 1)}
    entries = [e for e in runs[0].index if e in runs[1].index and not e.startswith("QM9")]
    print("| entry | " + " | ".join(label for _, label, _ in METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for e in entries:
        cells = []
        for key, _, scale in METRICS:
            a, b = (float(runs[s].loc[e, key]) * scale for s in (0, 1))
            digits = 3 if key == "recon/rmsd" else (0 if key == "steps" else 1)
            cells.append(f"{(a + b) / 2:.{digits}f} ± {abs(a - b) / 2:.{digits}f} ({a:.{digits}f} / {b:.{digits}f})")
        print(f"| {e} | " + " | ".join(cells) + " |")
    print("\nEach cell: mean ± half the difference of the two seeds (seed 0 / seed 1).")


if __name__ == "__main__":
    main()
