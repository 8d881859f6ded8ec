"""Generation vs cumulative CPU-minutes of training: the shipped model's lineage (``run.sh``, 500 samples
per point, 50 stochastic steps at strength 32) and the 25-minute lever arms of rounds 3-5 (1,000 samples each, the
same sampler, placed at the 254 + 25 minutes they had), with the generation issue's targets.

    .venv/bin/python benchmarks/qm9/history/plot.py      # writes history.png next to this file
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from unite_mol.files import atomic_open  # noqa: E402

HERE = Path(__file__).resolve().parent
METRICS = [("gen/edm/atom_stability", "atom stability", 95), ("gen/edm/mol_stability", "molecule stability", 50),
           ("gen/edm/connected", "valid and connected", 70)]
ARMS = {"levers-r3": 279, "levers-r3/seed1": 279, "levers-r4": 279, "levers-r5": 279}


def main() -> None:
    points = [(int(row["name"][:3]), row) for row in json.loads((HERE / "results.json").read_text())]
    arms = [(m, row) for folder, m in ARMS.items()
            for row in json.loads((HERE.parent / folder / "results.json").read_text()) if row["name"] != "start"]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(13, 3.8))
    for ax, (key, label, target) in zip(axes, METRICS):
        ax.plot([m for m, _ in points], [100 * r[key] for _, r in points], "o-", label="shipped lineage")
        ax.scatter([m for m, _ in arms], [100 * r[key] for _, r in arms], marker="x", color="C3",
                   label="25-min lever arms (rounds 3-5)", zorder=3)
        ax.axhline(target, ls="--", color="grey", label=f"target {target} %")
        ax.set(title=label, xlabel="cumulative training, CPU-minutes", ylabel="%", ylim=(0, 100))
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("QM9 generation vs training time (EDM protocol, 50 stochastic steps)")
    fig.tight_layout()
    with atomic_open(HERE / "history.png") as fh:
        fig.savefig(fh, dpi=110, format="png")


if __name__ == "__main__":
    main()
