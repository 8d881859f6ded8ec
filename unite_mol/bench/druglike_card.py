"""``python -m unite_mol.bench druglike-card``: the drug-like set's dataset card, computed from the data.

Counts per split, atom-count and element histograms (table and PNG), formal charges, MMFF94 energies,
every failure with its reason, and the calibration row: the package's own metrics
(:func:`unite_mol.metrics.evaluate`) run on the data itself, with bonds perceived by the EDM tables and by
Open Babel, and with the molecules' own RDKit bonds (the ``bonds`` protocol). Nothing is typed in.

The card is a report on the data (plots, the judge's metrics), so it lives above both: the set and its
builder are :mod:`unite_mol.data.druglike`, which never imports the metrics. The command builds the set
first if needed (resumable, like ``python -m unite_mol.data.druglike build``)::

    python -m unite_mol.bench druglike-card [--size 2000] [--workers 2] [--out-dir DIR]

The card goes to ``datasets/druglike/`` for the default size and to ``datasets/druglike-<size>/`` otherwise.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from unite_mol import elements
from unite_mol.data import druglike as dl

CALIBRATION_PROTOCOLS = ("edm", "openbabel", "bonds")
CALIBRATION_KEYS = ("atom_stability", "mol_stability", "validity", "connected", "uniqueness", "smiles_recovered")


def statistics(data: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per split (and ``all``): molecules, atoms, atom-count histogram, element and charge counts, energies."""
    counts = np.diff(data["offsets"])
    atom_split = np.repeat(data["split"], counts)
    out = {}
    for name in dl.SPLIT_NAMES + ("all",):
        rows = np.arange(len(counts)) if name == "all" else np.flatnonzero(data["split"] == dl.SPLIT_CODES[name])
        atoms = np.ones(len(atom_split), bool) if name == "all" else atom_split == dl.SPLIT_CODES[name]
        n = counts[rows]
        z = data["numbers"][atoms].astype(np.int64)
        q = data["charges"][atoms].astype(np.int64)
        e = data["energy"][rows]
        out[name] = {
            "molecules": int(len(rows)), "atoms": int(n.sum()),
            "mean_atoms": float(n.mean()) if len(n) else 0.0, "median_atoms": float(np.median(n)) if len(n) else 0.0,
            "min_atoms": int(n.min()) if len(n) else 0, "max_atoms": int(n.max()) if len(n) else 0,
            "atom_counts": np.bincount(n, minlength=1).tolist(),
            "elements": {elements.symbol(int(k)): int(v) for k, v in sorted(Counter(z.tolist()).items())},
            "charges": {int(k): int(v) for k, v in sorted(Counter(q.tolist()).items())},
            "charged_molecules": int(sum(np.any(data["charges"][data["offsets"][r]:data["offsets"][r + 1]] != 0)
                                         for r in rows)),
            "energy": _summary(e), "energy_per_atom": _summary(e / np.maximum(n, 1)),
        }
    return out


def _summary(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {}
    p = np.percentile(x, [5, 50, 95])
    return {"mean": float(x.mean()), "p5": float(p[0]), "median": float(p[1]), "p95": float(p[2]),
            "min": float(x.min()), "max": float(x.max())}


def plot(stats: dict, energy: np.ndarray, path: Path, title: str) -> None:
    """Atom-count, element and MMFF-energy histograms into one PNG (matplotlib's object API, no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 3.8))
    ax = fig.subplots(1, 3)
    for name in dl.SPLIT_NAMES:
        c = np.array(stats[name]["atom_counts"], float)
        if c.sum():
            ax[0].step(np.arange(len(c)), c / c.sum(), where="mid", label=f"{name} ({stats[name]['molecules']:,})")
    ax[0].set_xlabel("atoms per molecule (with H)")
    ax[0].set_ylabel("fraction of molecules")
    ax[0].legend()
    syms = list(stats["all"]["elements"])
    width = 0.27
    for k, name in enumerate(dl.SPLIT_NAMES):
        tot = max(sum(stats[name]["elements"].values()), 1)
        ax[1].bar(np.arange(len(syms)) + (k - 1) * width, [stats[name]["elements"].get(s, 0) / tot for s in syms],
                  width, label=name)
    ax[1].set_xticks(range(len(syms)), syms)
    ax[1].set_ylabel("fraction of atoms")
    ax[1].set_yscale("log")
    ax[1].legend()
    ax[2].hist(energy, bins=40)
    ax[2].set_xlabel("MMFF94 energy after minimisation (kcal/mol)")
    ax[2].set_ylabel("molecules")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def calibrate(molecules: list, *, protocols=CALIBRATION_PROTOCOLS) -> tuple[dict[str, float], dict[str, int], float]:
    """The package's metrics on the data itself: metrics, the most common failure reasons, seconds."""
    from unite_mol.metrics import evaluate

    from unite_mol.data.card import canonical_smiles

    t0 = time.time()
    res = evaluate(molecules, protocols=protocols)
    seconds = time.time() - t0
    metrics = dict(res.metrics)
    truth = [canonical_smiles(m.properties["smiles"]) for m in molecules]
    for p in protocols:   # stronger than validity: the perceived molecule is the molecule itself
        col = f"{p}_smiles"
        if col in res.records:
            got = res.records[col].tolist()
            metrics[f"{p}/smiles_recovered"] = float(np.mean([g is not None and g == t for g, t in zip(got, truth)]))
    reasons: Counter = Counter()
    if "reason" in res.records:
        for text in res.records["reason"]:
            if isinstance(text, str) and text:
                reasons.update(set(reason_kind(piece) for piece in text.split("; ")))
    return metrics, dict(reasons.most_common(8)), seconds


def reason_kind(reason: str) -> str:
    """The kind of a failure reason without its atom indices: text before the first number or ``#``/``(``.

    ``"edm: unstable atoms C2(valence 3), C3(valence 3)"`` -> ``"edm: unstable atoms"``.
    """
    head = re.split(r"[\d#(]", reason, maxsplit=1)[0]
    return re.sub(r"\s+[A-Z][a-z]?$", "", head.rstrip(" ,:")).rstrip(" ,:") or reason


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# long: one linear report: the card's sections in the order they are written
def write_card(out_dir: Path = dl.REPO_DIR, *, size: int = dl.DEFAULT_SIZE, seed: int = dl.DEFAULT_SEED,
               workers: int = dl.DEFAULT_WORKERS, shard_size: int = dl.DEFAULT_SHARD_SIZE, progress: bool = True,
               calibration: int = dl.DEFAULT_SIZE) -> Path:
    """Build the set if needed and write ``README.md`` and ``histograms.png`` into ``out_dir``.

    ``calibration``: run the package's metrics on the first this many molecules (0: no calibration section).
    """
    from rdkit import __version__ as rdkit_version

    t0 = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = dl.load_arrays(size, seed, workers=workers, progress=progress, shard_size=shard_size)
    stats = statistics(data)
    n_ok, n_bad = len(data["smiles"]), len(data["failed_smiles"])
    plot(stats, data["energy"], out_dir / "histograms.png",
         f"drug-like set (MOSES SMILES, ETKDGv3 + MMFF94), {n_ok:,} molecules, seed {seed}")
    a = stats["all"]
    lines = [
        "# Dataset card: the drug-like 3D set (as used by unite_mol)",
        "",
        f"Written by `python -m unite_mol.bench druglike-card --size {size} --seed {seed} --workers {workers}` "
        "(every figure below is computed by that command;",
        f"last run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, commit {_git_commit()}, "
        f"RDKit {rdkit_version}).",
        "",
        "**These are force-field conformers, not GEOM's.** Each molecule has one conformer: an RDKit ETKDGv3",
        "embedding minimised with MMFF94. GEOM-drugs has CREST conformer ensembles re-ranked with GFN2-xTB;",
        "geometries, energies and the number of conformers differ, so numbers on this set are not GEOM-drugs",
        "numbers. Load GEOM itself with `unite_mol.data.geom` when you have its files.",
        "",
        "- **Source**: MOSES training SMILES (ZINC clean leads; Polykovskiy et al., Front. Pharmacol. 2020), as shipped",
        f"  by PyPI `molsets==0.3.1` (MIT) in `moses/dataset/data/{dl.SOURCE_FILE}` and read through `importlib`.",
        f"- **Sample and split**: rows permuted by `numpy.random.default_rng({seed})`; the first {size:,} are the set;",
        "  position k goes to test when k % 10 == 9, valid when k % 10 == 8, train otherwise. Committed as",
        "  `split.csv` (position, MOSES row, split, SMILES). A larger `--size` extends this set.",
        f"- **Conformers**: explicit hydrogens, ETKDGv3 (`randomSeed={seed}`, one retry from random coordinates),",
        f"  MMFF94 minimisation to convergence (at most {dl.MMFF_MAX_ITERS} iterations); bonds and formal charges",
        "  from RDKit (aromatic bonds kept as aromatic, order 4).",
        f"- **Cache**: settings fingerprint `{dl.settings_key(seed)}` ({dl.build_settings(seed)['molsets']} molsets, "
        f"RDKit {rdkit_version}, {dl.ETKDG_SETTINGS['method']}, MMFF94); the data stay in the unite_mol cache "
        "(`$UNITE_MOL_CACHE`), only this card is in the repository.",
        f"- **Build**: {float(data['build_seconds']):.0f} s of wall-clock for {n_ok + n_bad:,} molecules "
        f"(over all sittings, {int(data['build_shards'])} shard(s), up to {int(data['build_workers'])} worker "
        f"process(es)); {1000 * float(data['build_worker_seconds']) / max(n_ok + n_bad, 1):.0f} ms of conformer time "
        f"a molecule in one worker. Shards are resumable: rerunning the command continues a stopped build.",
        "",
        "## Counts",
        "",
        "| split | molecules | atoms | mean atoms | median | min | max | charged molecules | "
        + " | ".join(a["elements"]) + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(a["elements"]),
    ]
    for name in dl.SPLIT_NAMES + ("all",):
        s = stats[name]
        lines.append(f"| {name} | {s['molecules']:,} | {s['atoms']:,} | {s['mean_atoms']:.1f} | {s['median_atoms']:.0f} | "
                     f"{s['min_atoms']} | {s['max_atoms']} | {s['charged_molecules']} | "
                     + " | ".join(f"{s['elements'].get(e, 0):,}" for e in a["elements"]) + " |")
    lines += ["", f"Formal charges over all atoms: {a['charges']}.", "",
              "![atom-count, element and energy histograms](histograms.png)", "",
              "Atom-count histogram of all molecules (molecules with k atoms, k = 0..max):", "",
              "`" + " ".join(str(c) for c in a["atom_counts"]) + "`", "",
              "## MMFF94 energies after minimisation (kcal/mol)", "",
              "Total MMFF94 energies are not comparable between different molecules (they are not formation",
              "energies); they are reported to show the minimisations ended in sane places.", "",
              "| | mean | 5 % | median | 95 % | min | max |", "|---|---|---|---|---|---|---|"]
    for key, label in (("energy", "per molecule"), ("energy_per_atom", "per atom")):
        e = a[key]
        lines.append(f"| {label} | {e['mean']:.2f} | {e['p5']:.2f} | {e['median']:.2f} | {e['p95']:.2f} | "
                     f"{e['min']:.2f} | {e['max']:.2f} |")
    lines += ["", "## Failures", "",
              f"{n_bad} of {n_ok + n_bad:,} sampled molecules have no conformer in the set "
              f"({100 * n_bad / max(n_ok + n_bad, 1):.2f} %)."]
    if n_bad:
        lines += ["", "| reason | molecules |", "|---|---|"]
        for reason, c in Counter(data["failed_reason"].tolist()).most_common():
            lines.append(f"| {reason} | {c} |")
        lines += ["", "| position | SMILES | reason |", "|---|---|---|"]
        for p, smi, r in list(zip(data["failed_position"], data["failed_smiles"], data["failed_reason"]))[:30]:
            lines.append(f"| {p} | `{smi}` | {r} |")
    if calibration:
        mols = [m for name in dl.SPLIT_NAMES for m in dl.DrugLikeSplit(name, data)][:calibration]
        metrics, reasons, seconds = calibrate(mols)
        which = f"all {len(mols):,}" if len(mols) == n_ok else f"the first {len(mols):,} (train split first)"
        lines += ["", "## Calibration: the package's metrics on the data itself", "",
                  f"`unite_mol.metrics.evaluate(molecules, protocols={CALIBRATION_PROTOCOLS})` on {which}",
                  f"molecules ({seconds:.0f} s). `edm` and `openbabel` perceive bonds from the coordinates; `bonds`",
                  "uses each molecule's own RDKit bonds (aromatic counted as 1.5 against an element-and-charge",
                  "valence table, Nikitin et al. 2025). The data are correct by construction, so anything below",
                  "100 % under `bonds` is a metric defect, and the gaps under `edm`/`openbabel` measure the bond",
                  "perception on drug-sized molecules (EDM's distance tables are known to fail there).",
                  "`smiles_recovered`: the canonical SMILES from those bonds (largest fragment, no stereo, no H)",
                  "equals the molecule's own MOSES SMILES; a valid but different molecule does not count.", "",
                  "| protocol | " + " | ".join(CALIBRATION_KEYS) + " |",
                  "|---|" + "---|" * len(CALIBRATION_KEYS)]
        for proto in CALIBRATION_PROTOCOLS:
            cells = []
            for k in CALIBRATION_KEYS:
                v = metrics.get(f"{proto}/{k}")
                cells.append("-" if v is None or not np.isfinite(v) else f"{100 * v:.2f} %")
            lines.append(f"| `{proto}` | " + " | ".join(cells) + " |")
        if reasons:
            lines += ["", "Kinds of per-molecule failure reasons recorded by `evaluate` (molecules with each):", "",
                      "| reason | molecules |", "|---|---|"] + [f"| {r} | {c} |" for r, c in reasons.items()]
    lines += ["", f"Card written in {time.time() - t0:.0f} s.", ""]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench druglike-card",
                                description="build the offline drug-like 3D set if needed, then write its dataset card")
    p.add_argument("--size", type=int, default=dl.DEFAULT_SIZE, help=f"molecules to sample (default {dl.DEFAULT_SIZE})")
    p.add_argument("--seed", type=int, default=dl.DEFAULT_SEED, help="sampling, split and ETKDG seed (default 0)")
    p.add_argument("--workers", type=int, default=dl.DEFAULT_WORKERS, help="processes for conformer work (default 2)")
    p.add_argument("--shard-size", type=int, default=dl.DEFAULT_SHARD_SIZE,
                   help=f"molecules per shard file, what a stopped build can lose (default {dl.DEFAULT_SHARD_SIZE})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out-dir", default=None,
                   help=f"folder for README.md and histograms.png (default {dl.REPO_DIR} for the default size, "
                        f"else {dl.REPO_DIR.parent}/druglike-<size>)")
    p.add_argument("--no-calibration", action="store_true", help="skip the metrics on the data itself")
    p.add_argument("--calibration-size", type=int, default=dl.DEFAULT_SIZE,
                   help=f"calibrate on the first this many molecules (default {dl.DEFAULT_SIZE})")
    args = p.parse_args(argv)
    if args.size < 1 or args.workers < 1:
        p.error("--size and --workers must be at least 1")
    if args.shard_size < 1 or args.calibration_size < 1:
        p.error("--shard-size and --calibration-size must be at least 1")
    out_dir = Path(args.out_dir) if args.out_dir else dl.card_dir(args.size)
    print(write_card(out_dir, size=args.size, seed=args.seed, workers=args.workers, shard_size=args.shard_size,
                     progress=not args.no_progress, calibration=args.calibration_size if not args.no_calibration else 0))
    return 0
