"""Round 8's table (arm by arm, seeds side by side, means) and picture, from the arms' results.json.

    python benchmarks/qm9/valence/round8/plot.py      # writes table.md and tradeoff.png beside this file
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
KEYS = (("gen/edm/atom_stability", "atom stab"), ("gen/edm/mol_stability", "mol stab"), ("gen/edm/validity", "valid"),
        ("gen/edm/connected", "valid+conn"), ("gen/edm/novelty", "novel"), ("gen/openbabel/connected", "valid+conn (OB)"),
        ("gen/bonds/atom_stability", "atom stab (pred.)"), ("gen/bonds/mol_stability", "mol stab (pred.)"),
        ("gen/bonds/connected", "valid+conn (pred.)"))


def arms() -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for f in sorted(HERE.glob("s[0-9]-*/results.json")):
        seed, arm = re.match(r"s(\d)-(.*)", f.parent.name).groups()
        out[arm][int(seed)] = json.loads(f.read_text())[0]
    return out


def main() -> None:
    data = arms()
    lines = ["| arm | seeds | " + " | ".join(k[1] for k in KEYS) + " |", "|---" * (len(KEYS) + 2) + "|"]
    means = {}
    for arm, by_seed in sorted(data.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        for s, row in sorted(by_seed.items()):
            lines.append(f"| {arm} | {s} | " + " | ".join(f"{100 * row[k]:.1f}" for k, _ in KEYS) + " |")
        if len(by_seed) > 1:
            m = {k: sum(r[k] for r in by_seed.values()) / len(by_seed) for k, _ in KEYS}
            means[arm] = (m, by_seed)
            lines.append(f"| **{arm}, mean** | {len(by_seed)} | " + " | ".join(f"**{100 * m[k]:.1f}**" for k, _ in KEYS) + " |")
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    for arm, (m, by_seed) in means.items():
        for a, (x, y) in zip(ax, (("gen/edm/connected", "gen/edm/atom_stability"), ("gen/edm/connected", "gen/edm/mol_stability"))):
            xs, ys = [100 * r[x] for r in by_seed.values()], [100 * r[y] for r in by_seed.values()]
            a.scatter(xs, ys, s=10, alpha=0.4)
            a.scatter([100 * m[x]], [100 * m[y]], s=40, marker="D", color=a.collections[-1].get_facecolor()[0])
            a.annotate(f"{arm} ({len(by_seed)})", (100 * m[x], 100 * m[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax[0].axhline(95, color="grey", lw=0.8, ls="--")
    ax[1].axhline(50, color="grey", lw=0.8, ls="--")
    for a, lab in zip(ax, ("EDM atom stability %", "EDM molecule stability %")):
        a.axvline(70, color="grey", lw=0.8, ls="--")
        a.set_xlabel("EDM valid and connected %")
        a.set_ylabel(lab)
    fig.suptitle("Round 8: bond-length term in valence guidance (1,000 samples per point; diamonds: mean over seeds)")
    fig.tight_layout()
    fig.savefig(HERE / "tradeoff.png", dpi=120)


if __name__ == "__main__":
    main()
