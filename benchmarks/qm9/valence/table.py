"""A round's table: arm by arm, seeds side by side, means over seeds, from the arms' results.json.

    python benchmarks/qm9/valence/table.py benchmarks/qm9/valence/round9      # writes round9/table.md
"""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

KEYS = (("gen/edm/atom_stability", "atom stab"), ("gen/edm/mol_stability", "mol stab"), ("gen/edm/validity", "valid"),
        ("gen/edm/connected", "valid+conn"), ("gen/edm/uniqueness", "unique"), ("gen/edm/novelty", "novel"),
        ("gen/openbabel/connected", "valid+conn (OB)"), ("gen/bonds/atom_stability", "atom stab (pred.)"),
        ("gen/bonds/mol_stability", "mol stab (pred.)"), ("gen/bonds/connected", "valid+conn (pred.)"))


def main(folder: Path) -> str:
    data: dict[str, dict[int, dict]] = defaultdict(dict)
    for f in sorted(folder.glob("s[0-9]-*/results.json")):
        seed, arm = re.match(r"s(\d)-(.*)", f.parent.name).groups()
        data[arm][int(seed)] = json.loads(f.read_text())[0]
    lines = ["| arm | seed | " + " | ".join(k[1] for k in KEYS) + " |", "|---" * (len(KEYS) + 2) + "|"]
    for arm, by_seed in sorted(data.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        for s, row in sorted(by_seed.items()):
            lines.append(f"| {arm} | {s} | " + " | ".join(f"{100 * row[k]:.1f}" for k, _ in KEYS) + " |")
        if len(by_seed) > 1:
            m = {k: sum(r[k] for r in by_seed.values()) / len(by_seed) for k, _ in KEYS}
            lines.append(f"| **{arm}, mean** | {len(by_seed)} | " + " | ".join(f"**{100 * m[k]:.1f}**" for k, _ in KEYS)
                         + " |")
    text = "\n".join(lines) + "\n"
    (folder / "table.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
