"""Molecule stability and valid+connected (EDM) against generate() time for every valence-guidance row of
this folder (seed 0, 1,000 samples; times at one thread beside a training run, so relative only).

    python benchmarks/qm9/valence/plot.py   # -> benchmarks/qm9/valence/tradeoff.png
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
rows = {}
for folder in ("seed0", "round3-seed0", "round4-seed0", "round5-seed0"):
    for r in json.loads((HERE / folder / "results.json").read_text()):
        label = r["sampler"] if isinstance(r["sampler"], str) else ",".join(f"{k}={v}" for k, v in r["sampler"].items())
        rows[label or "default"] = r
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
for ax, key, title in zip(axes, ("gen/edm/mol_stability", "gen/edm/connected"),
                          ("molecule stability (EDM)", "valid and connected (EDM)")):
    for label, r in rows.items():
        ax.scatter(r["generate_s"], 100 * r[key], color="C1" if "valence_from" in label else "C0")
        ax.annotate(label.replace("valence_", "v_"), (r["generate_s"], 100 * r[key]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.axhline(50 if "mol" in key else 70, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("generate(1000) s (one thread, shared CPU)")
    ax.set_ylabel("% of 1,000 samples")
    ax.set_title(title)
fig.suptitle("valence guidance on the shipped model (seed 0); dashed: the issue's target; orange: also during sampling")
fig.tight_layout()
fig.savefig(HERE / "tradeoff.png", dpi=120)
print(HERE / "tradeoff.png")
