"""A bench's results folder: learning-curve plot, tables, published anchors, ``results.md``.

The defaults are the QM9 bench's (its columns and anchors); other benches (``bench drugs``) pass their own
title, columns and notes to :func:`write_results`.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

#: Published QM9 rows, quoted from the papers (EDM, Hoogeboom et al. 2022; GeoLDM, Xu et al. 2023; ADiT,
#: Joshi et al. 2025; UNITE), not re-run here.
ANCHORS = [
    {"system": "QM9 data (EDM)", "kind": "data", "bonds": "EDM distances", "atom_stab": 99.0, "mol_stab": 95.2, "valid": 97.7, "unique": 100.0},
    {"system": "EDM (1000 steps)", "kind": "bond-free", "bonds": "EDM distances", "atom_stab": 98.7, "mol_stab": 82.0, "valid": 91.9, "unique": None},
    {"system": "GeoLDM (VAE latent)", "kind": "bond-free", "bonds": "EDM distances", "atom_stab": 98.9, "mol_stab": 89.4, "valid": 93.8, "unique": None},
    {"system": "ADiT (VAE + DiT)", "kind": "bond-free", "bonds": "Open Babel", "recon_match": 97.20, "recon_rmsd": 0.075, "valid": 96.02, "unique": 97.76},
    {"system": "UNITE-S (33M, 8000 epochs)", "kind": "bond-free", "bonds": "Open Babel", "recon_match": 99.37, "recon_rmsd": 0.039, "valid": 94.90, "unique": 99.71},
]


@contextmanager
def phase(what: str, prefix: str = "[bench drugs]") -> Iterator[None]:
    """Say on stdout what a bench starts, and when it is done, how long it took."""
    print(f"{prefix} {what}...", flush=True)
    t0 = time.monotonic()
    yield
    print(f"{prefix}   done in {time.monotonic() - t0:.0f} s", flush=True)


def plot_curves(rows: list[dict], path: Path) -> None:
    """Reconstruction and flow losses of every trained entry against wall-clock, side by side, into ``path``."""
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend switch

    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for row in rows:
        t_off = 0.0
        for c in row.get("curves", []):
            if not Path(c).exists():   # a run too short to reach its first log line has no curve
                continue
            recs = [json.loads(line) for line in Path(c).read_text().splitlines() if line.strip()]
            if not recs:
                continue
            wall = [t_off + r.get("wall_s", r.get("elapsed_s", 0)) for r in recs]
            for ax, key in zip(axes, ("recon", "flow")):
                ys = [r.get(key) for r in recs]
                if any(y is not None for y in ys):
                    ax.plot([w for w, y in zip(wall, ys) if y is not None], [y for y in ys if y is not None],
                            label=f"{row['entry']}" + (" (stage 2)" if "stage2" in c else " (stage 1)" if "stage1" in c else ""))
            t_off = wall[-1]
    for ax, key in zip(axes, ("reconstruction loss", "flow loss (velocity MSE)")):
        ax.set_xlabel("wall-clock (s)")
        ax.set_ylabel(key)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


COLUMNS = [("recon/match_adit", "recon match % (InChI)"), ("recon/rmsd", "recon RMSD A"),
           ("recon/equivariance_rmsd_median", "rotation error A (median)"),
           ("gen/edm/atom_stability", "atom stab %"), ("gen/edm/mol_stability", "mol stab %"),
           ("gen/edm/validity", "valid % (EDM bonds)"), ("gen/edm/connected", "valid+connected % (EDM)"),
           ("gen/openbabel/validity", "valid % (Open Babel)"), ("gen/openbabel/connected", "valid+connected % (Open Babel)"),
           ("gen/edm/uniqueness", "unique %"), ("gen/edm/novelty", "novel %"),
           ("gen/bonds/atom_stability", "atom stab % (predicted bonds)"),
           ("gen/bonds/mol_stability", "mol stab % (predicted bonds)"),
           ("gen/bonds/connected", "valid+connected % (predicted bonds)")]
#: the physical yardstick (:func:`unite_mol.bench.qm9_eval.physics_eval`), a second table
PHYSICS_COLUMNS = [("phys/xtb/n", "xTB n"), ("phys/xtb/relax_median_kcal", "xTB relax median kcal/mol"),
                   ("phys/xtb/relax_mean_kcal", "xTB relax mean kcal/mol"),
                   ("phys/xtb/bond_change_mA", "bond change mA"), ("phys/xtb/angle_change_deg", "angle change deg"),
                   ("phys/xtb/rmsd_A", "relax RMSD A"), ("phys/posebusters/n", "PB n"),
                   ("phys/posebusters/own", "PoseBusters % (own bonds)"),
                   ("phys/posebusters/openbabel", "PoseBusters % (Open Babel)"),
                   ("phys/usable/own", "usable % (own)"), ("phys/usable/rdkit", "usable % (RDKit)"),
                   ("phys/usable/openbabel", "usable % (Open Babel)"),
                   ("phys/w1/bond/C-C", "W1 C-C mA"), ("phys/w1/bond/C-N", "W1 C-N mA"),
                   ("phys/w1/bond/C-O", "W1 C-O mA"), ("phys/w1/angle/C-C-C", "W1 C-C-C deg"),
                   ("phys/w1/angle/C-N-C", "W1 C-N-C deg")]


def fmt(v: Any, pct: bool, count: bool = False) -> str:
    """A table cell: ``-`` for a missing value, a percentage with 2 decimals, a count as an integer, else 3 decimals."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if count:
        return f"{int(round(v)):,}"
    return f"{100 * v:.2f}" if pct else f"{v:.3f}"


def is_count(key: str) -> bool:
    """Whether a metric is a count of molecules (``.../n``, ``..._valid`` counts): printed as an integer."""
    return key.endswith("/n") or key.endswith("fcd_valid")


def markdown_table(rows: list[dict], columns: list[tuple[str, str]] = COLUMNS) -> str:
    """One line per row; a column is a percentage when its label has ``%`` in it, a count (:func:`is_count`)
    is an integer."""
    head = "| entry | " + " | ".join(c[1] for c in columns) + " | train mol/s | sample mol/s | wall s | TFLOP |"
    lines = [head, "|" + "---|" * (len(columns) + 5)]
    for r in rows:
        cells = [fmt(r.get(k), "%" in label, is_count(k)) for k, label in columns]
        lines.append(f"| {r['entry']} | " + " | ".join(cells) + f" | {fmt(r.get('train_mol_per_s'), False)} | "
                     f"{fmt(r.get('speed/sample_mol_per_s'), False)} | {fmt(r.get('wall_s'), False)} | "
                     f"{fmt((r.get('flops') or float('nan')) / 1e12, False)} |")
    return "\n".join(lines)


def physics_table(rows: list[dict]) -> str:
    """The physics columns (:data:`PHYSICS_COLUMNS`) of the rows that have them."""
    head = "| entry | " + " | ".join(c[1] for c in PHYSICS_COLUMNS) + " | physics wall s |"
    lines = [head, "|" + "---|" * (len(PHYSICS_COLUMNS) + 2)]
    for r in rows:
        if "phys/xtb/n" not in r:
            continue
        cells = [fmt(r.get(k), "%" in label, is_count(k)) for k, label in PHYSICS_COLUMNS]
        lines.append(f"| {r['entry']} | " + " | ".join(cells) + f" | {fmt(r.get('phys/wall_s'), False)} |")
    return "\n".join(lines)


def anchors_table() -> str:
    lines = ["| system (quoted, not re-run) | kind | bonds | recon match % | recon RMSD A | atom stab % | mol stab % | valid % | unique % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a in ANCHORS:
        g = lambda k: "-" if a.get(k) is None else str(a[k])  # noqa: E731
        lines.append(f"| {a['system']} | {a['kind']} | {a['bonds']} | {g('recon_match')} | {g('recon_rmsd')} | "
                     f"{g('atom_stab')} | {g('mol_stab')} | {g('valid')} | {g('unique')} |")
    return "\n".join(lines)


#: the caption above the physics table (the QM9 bench's: xTB on EDM-valid samples, W1 to the QM9 test split)
QM9_PHYSICS_CAPTION = ("Physics (GFN2-xTB relaxation of the first valid+connected samples (EDM), PoseBusters `mol` "
                       "checks, usable = sanitisable, one piece, no radicals; W1 to the QM9 test split with Open Babel "
                       "bonds on both sides; unite_mol.metrics.physics):")

QM9_NOTES = ["Percentages are of generated molecules; `unique %` is of valid ones (EDM bonds), `novel %` of unique",
             "valid ones. `-` = not measured. Reconstruction: the same QM9 test molecules for every entry."]


def write_results(out: Path, rows: list[dict], configs: dict, machine: dict, *, title: str = "QM9 benchmark",
                  columns: list[tuple[str, str]] = COLUMNS, notes: list[str] = QM9_NOTES,
                  anchors: bool = True, physics_caption: str = QM9_PHYSICS_CAPTION,
                  extra: Sequence[str] = ()) -> None:
    """``results.csv``, ``configs.json``, ``machine.json`` and ``results.md`` (``title``, ``notes`` above the
    table of ``columns``; the physics table under ``physics_caption`` when rows have physics; the published QM9
    ``anchors``; then the ``extra`` lines) into ``out``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    flat = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in rows]
    pd.DataFrame(flat).to_csv(out / "results.csv", index=False)
    (out / "configs.json").write_text(json.dumps(configs, indent=2, default=str))
    (out / "machine.json").write_text(json.dumps(machine, indent=2))
    md = [f"# {title}: preset `{configs['preset']}`", "",
          f"Command: `{machine['command']}`  ", f"Machine: {machine['cpu']} ({machine['cores']} cores)"
          + (f", GPU {machine['gpu']}" if "gpu" in machine else "")
          + (f"; fp32 matmul {machine['matmul_gflops_fp32']:.0f} GFLOP/s at the end (the machine's speed that minute)"
             if machine.get("matmul_gflops_fp32") else "") + "  ",
          f"Commit: `{machine['commit']}`  ", f"Date: {machine['date']}; total wall-clock {machine['wall_s']:.0f} s", "",
          *([f"**Partial results: {machine['partial']}.**", ""] if "partial" in machine else []),
          *notes, "", markdown_table(rows, columns), "",
          *([physics_caption, "", physics_table(rows), ""] if any("phys/xtb/n" in r for r in rows) else []),
          *(["Published anchors:", "", anchors_table(), ""] if anchors else []), *extra]
    if (out / "curves.png").exists():
        md += ["![learning curves](curves.png)", ""]
    (out / "results.md").write_text("\n".join(md))
