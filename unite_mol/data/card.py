"""``python -m unite_mol.data.card``: write the QM9 dataset card from the data itself.

Counts, element and atom-count histograms (table and PNG) per split, and how often bonds perceived from
the 3D coordinates give back the molecule's own QM9 SMILES (canonical, stereo ignored) with each bond
perception method. Everything in the card is computed by this command; nothing is typed in.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

from unite_mol import elements
from unite_mol.data.qm9 import PROPERTY_COLUMNS, SPLIT_SEED, SPLIT_SHA256, canonical_smiles, qm9  # noqa: F401

OUT_DIR = Path(__file__).resolve().parents[2] / "datasets" / "qm9"


def perceived_smiles(mol, method: str) -> tuple[str | None, str]:
    """Canonical SMILES (no stereo) of ``mol`` after bond perception, and a failure reason ('' if none)."""
    from rdkit import Chem

    try:
        rd = mol.with_bonds(method).to_rdkit(sanitize=True)
    except ValueError as exc:
        return None, str(exc).splitlines()[0][:120]
    rd = Chem.RemoveHs(rd)
    Chem.RemoveStereochemistry(rd)
    return Chem.MolToSmiles(rd), ""


def smiles_recovery(split: str = "test", methods=("edm", "rdkit", "openbabel"), limit: int | None = None,
                    progress: bool = True) -> dict[str, dict[str, float]]:
    """Fraction of molecules whose perceived-bond SMILES equals their QM9 SMILES, per method."""
    from rdkit import RDLogger
    from tqdm import tqdm

    data = qm9(split)
    n = len(data) if limit is None else min(limit, len(data))
    refs = [canonical_smiles(str(s)) for s in data.smiles[:n]]
    out = {}
    logger = RDLogger.logger()
    logger.setLevel(RDLogger.CRITICAL)
    try:
        for method in methods:
            t0 = time.time()
            hits = fails = 0
            for k in tqdm(range(n), desc=f"bonds via {method}", disable=not progress, mininterval=2):
                smi, reason = perceived_smiles(data[k], method)
                fails += smi is None
                hits += smi is not None and smi == refs[k]
            out[method] = {"match": hits / n, "unsanitisable": fails / n, "seconds": time.time() - t0, "n": n}
    finally:
        logger.setLevel(RDLogger.WARNING)
    return out


def histograms() -> dict[str, dict]:
    out = {}
    for split in ("train", "valid", "test"):
        d = qm9(split)
        counts = np.bincount(d.numbers, minlength=10)
        out[split] = {"molecules": len(d), "atoms": int(d.num_atoms.sum()),
                      "elements": {elements.SYMBOLS[z]: int(c) for z, c in enumerate(counts) if c},
                      "atom_counts": np.bincount(d.num_atoms, minlength=30).tolist(),
                      "mean_atoms": float(d.num_atoms.mean()), "min_atoms": int(d.num_atoms.min()),
                      "max_atoms": int(d.num_atoms.max())}
    return out


def plot(hist: dict, path: Path) -> None:
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend switch

    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2)
    for split, h in hist.items():
        c = np.array(h["atom_counts"], float)
        axes[0].plot(np.arange(len(c)), c / c.sum(), marker="o", ms=3, label=f"{split} ({h['molecules']:,})")
    axes[0].set_xlabel("atoms per molecule (with H)")
    axes[0].set_ylabel("fraction of molecules")
    axes[0].legend()
    syms = list(hist["train"]["elements"])
    width = 0.27
    for k, (split, h) in enumerate(hist.items()):
        tot = sum(h["elements"].values())
        axes[1].bar(np.arange(len(syms)) + (k - 1) * width, [h["elements"].get(s, 0) / tot for s in syms], width, label=split)
    axes[1].set_xticks(range(len(syms)), syms)
    axes[1].set_ylabel("fraction of atoms")
    axes[1].set_yscale("log")
    axes[1].legend()
    fig.suptitle("QM9 (qm9pack 1.0.3): atom counts and elements per split")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_card(out_dir: Path = OUT_DIR, *, limit: int | None = None) -> Path:
    t0 = time.time()
    hist = histograms()
    rec = smiles_recovery("test", limit=limit)
    plot(hist, out_dir / "histograms.png")
    lines = [
        "# Dataset card: QM9 (as used by unite_mol)",
        "",
        "Written by `python -m unite_mol.data.card` (every figure below is computed by that command;",
        f"last run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{time.time() - t0:.0f} s).",
        "",
        "- **Source**: PyPI package `qm9pack==1.0.3` (MIT licence), files `qm9pack/data/qm9_part{1,2,3}.csv`,",
        "  read through `importlib` (the package is never imported). QM9 itself: Ramakrishnan et al.,",
        "  Sci. Data 1, 140022 (2014), CC BY 4.0; 133,885 molecules of which the 3,054 that failed the",
        "  authors' consistency check are already removed here, leaving the 130,831 EDM/GeoLDM/ADiT use.",
        "- **Content**: elements H, C, N, O, F with explicit hydrogens; B3LYP/6-31G(2df,p) geometries in",
        "  Angstrom; GDB SMILES and InChI; scalar properties " + ", ".join(f"`{c}`" for c in PROPERTY_COLUMNS) + ".",
        f"- **Split**: molecules ordered by GDB index, `numpy.random.RandomState({SPLIT_SEED}).permutation`, then",
        "  100,000 train / 17,748 valid / 13,083 test (the field's procedure, after Cormorant and EDM).",
        f"  GDB indices in `split.npz`; SHA-256 `{SPLIT_SHA256}` (pinned in `unite_mol/data/qm9.py`).",
        "  Test molecules never enter training: the trainers read `qm9('train')` only.",
        "",
        "## Counts",
        "",
        "| split | molecules | atoms | mean atoms | min | max | " + " | ".join(hist["train"]["elements"]) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(hist["train"]["elements"]),
    ]
    for split, h in hist.items():
        lines.append(f"| {split} | {h['molecules']:,} | {h['atoms']:,} | {h['mean_atoms']:.2f} | {h['min_atoms']} | "
                     f"{h['max_atoms']} | " + " | ".join(f"{h['elements'].get(s, 0):,}" for s in hist["train"]["elements"]) + " |")
    lines += ["", "![atom-count and element histograms](histograms.png)", "",
              "Atom-count histogram of the training split (molecules with k atoms, k = 0..29):", "",
              "`" + " ".join(str(c) for c in hist["train"]["atom_counts"]) + "`", "",
              "## Bonds perceived from the 3D coordinates",
              "",
              f"On the test split ({rec['edm']['n']:,} molecules): the bonds each method perceives from the",
              "geometry, sanitised by RDKit, give the molecule's own QM9 SMILES (both canonicalised by RDKit,",
              "stereo and explicit hydrogens removed) this often:", "",
              "| method | SMILES recovered | not sanitisable | seconds |", "|---|---|---|---|"]
    for method, r in rec.items():
        lines.append(f"| `{method}` | {100 * r['match']:.2f} % | {100 * r['unsanitisable']:.2f} % | {r['seconds']:.0f} |")
    lines += ["", "Some misses are real: QM9's SMILES come from GDB-17, and a few hundred molecules changed",
              "bonding on DFT relaxation. The EDM tables assign no charges, so zwitterions and nitro groups",
              "cannot sanitise under that method. See `CALIBRATION.md` for the stability and validity metrics",
              "on this split against the published data row.", ""]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.data.card", description="write datasets/qm9/README.md")
    p.add_argument("--out-dir", default=str(OUT_DIR), help="folder for README.md and histograms.png")
    p.add_argument("--limit", type=int, default=None, help="only the first N test molecules for the bond check")
    args = p.parse_args(argv)
    print(write_card(Path(args.out_dir), limit=args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
