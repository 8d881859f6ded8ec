"""The drug bench's data: the offline drug-like set or the user's GEOM-drugs files, as flat splits.

Every source ends as ``{"train", "test"}`` splits with flat per-atom arrays (``numbers``,
``positions``, ``offsets``, ``num_atoms``, as :func:`unite_mol.bench.qm9_train.train_entry` and
:func:`unite_mol.bench.qm9_eval.reconstruction_eval` read them) plus each molecule's ``smiles``.

**Formal charges.** The molecule adapter (:mod:`unite_mol.molecular`) has no charge head: it reads and
writes elements and coordinates only. The drug-like set has no charged atom (none of the 1.58M MOSES
training SMILES has one: MOSES filtered them out), so nothing is lost there. GEOM-drugs does have charged
molecules (zwitterions, ammonium, nitro groups); handing one to this model would silently train it on a
molecule it cannot give back, so :func:`require_uncharged` raises a ``ValueError`` naming the molecule,
unless the caller asks to leave charged molecules out (``skip=True``; how many is recorded).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from unite_mol.data.flat import FlatSplit
from unite_mol.molecule import Molecule

SPLITS = ("train", "test")   # the bench trains on one and measures on the other; validation splits are not read


class FlatMolecules(FlatSplit):
    """A list of :class:`Molecule` as a flat split (the molecules themselves are kept and returned)."""

    label = "split"

    def __init__(self, name: str, molecules: Sequence[Molecule]):
        self.name = name
        self._molecules = list(molecules)
        if not self._molecules:
            raise ValueError(f"the {name} split has no molecules")
        self.num_atoms = np.array([m.num_atoms for m in self._molecules], np.int64)
        self.numbers = np.concatenate([m.numbers for m in self._molecules]).astype(np.int64)
        self.positions = np.concatenate([m.positions for m in self._molecules]).astype(np.float64)
        self.offsets = np.concatenate([[0], np.cumsum(self.num_atoms)]).astype(np.int64)
        self.smiles = np.array([str(m.properties.get("smiles", "")) for m in self._molecules], dtype=str)

    def molecule(self, k: int) -> Molecule:
        return self._molecules[k]

    def __repr__(self) -> str:
        return f"FlatMolecules({self.name!r}, {len(self)} molecules, {int(self.num_atoms.sum())} atoms)"


def molecule_label(mol: Molecule, k: int) -> str:
    """How errors name a molecule: its SMILES or name, else its index and formula."""
    return str(mol.properties.get("smiles") or mol.properties.get("name") or f"#{k} {mol.formula}")


def require_uncharged(molecules: Iterable[Molecule], *, where: str, skip: bool = False
                      ) -> tuple[list[Molecule], list[str]]:
    """The molecules without formal charges, and the labels of those left out (only with ``skip``).

    Raises:
        ValueError: for the first charged molecule when ``skip`` is false, naming it, its charges and why.
    """
    kept, dropped = [], []
    for k, m in enumerate(molecules):
        q = m.formal_charges
        if q.any():
            label = molecule_label(m, k)
            if not skip:
                atoms = ", ".join(f"{m.symbols[i]}{i}:{int(q[i]):+d}" for i in np.flatnonzero(q)[:6])
                raise ValueError(f"molecule {label!r} ({where}) carries formal charges ({atoms}); the UNITE molecule "
                                 "adapter has no charge head and cannot represent them. Leave charged molecules out "
                                 "with --skip-charged (python -m unite_mol.bench drugs) or skip=True.")
            dropped.append(label)
            continue
        kept.append(m)
    return kept, dropped


def druglike_splits(size: int, *, seed: int = 0, skip_charged: bool = False) -> tuple[dict[str, FlatSplit], dict]:
    """The drug-like set (``size`` molecules, built on first use with one worker) and notes about it."""
    from unite_mol.data.druglike import druglike

    splits: dict[str, FlatSplit] = {}
    for name in SPLITS:
        s = druglike(name, size=size, seed=seed, workers=1, progress=False)
        if s.charges.any():   # never expected (MOSES has no charged atoms); checked, not assumed
            kept, _ = require_uncharged(s, where=f"drug-like {name} split", skip=skip_charged)
            s = FlatMolecules(name, kept)
        splits[name] = s
    return splits, {"source": "druglike", "size": size, "seed": seed}


def geom_splits(*, split_pickles: str | None = None, rdkit_folder: str | None = None, limit: int | None = None,
                conformers: int = 1, seed: int = 0, skip_charged: bool = False,
                trusted: bool = False) -> tuple[dict[str, FlatSplit], dict]:
    """GEOM-drugs from MiDi-style split pickles (``train_data.pickle``, ``val_data.pickle``,
    ``test_data.pickle`` in one folder) or from the ``rdkit_folder`` layout (split by molecule with
    :func:`unite_mol.data.geom.split_smiles`, lowest-energy conformer), at most ``limit`` molecules per split
    and ``conformers`` conformers per molecule (split pickles).

    Raises:
        ValueError: if not exactly one source is given, for a charged molecule (unless ``skip_charged``),
            or for an empty split.
        FileNotFoundError: for missing files.
    """
    from unite_mol.data import geom

    if (split_pickles is None) == (rdkit_folder is None):
        raise ValueError("give exactly one GEOM source: split_pickles= (a folder of MiDi split pickles) or rdkit_folder=")
    if conformers < 1:
        raise ValueError(f"conformers must be at least 1, got {conformers}")
    if split_pickles is not None:
        loaded = geom.load_split_pickles(split_pickles, max_conformers=conformers, trusted=trusted)
        raw = {name: list(loaded[name]) for name in SPLITS}
        notes = {"source": "geom-split-pickles", "folder": str(split_pickles), "conformers": conformers}
    else:
        table = geom.read_summary(f"{rdkit_folder}/summary_drugs.json")
        keys = [s for s, meta in table.items() if meta.get("pickle_path")]
        parts = geom.split_smiles(keys, seed=seed)
        raw = {name: list(geom.load_rdkit_folder(rdkit_folder, smiles=parts[name][:limit], trusted=trusted))
               for name in SPLITS}
        notes = {"source": "geom-rdkit-folder", "folder": str(rdkit_folder), "conformers": "lowest energy", "seed": seed}
    splits: dict[str, FlatSplit] = {}
    notes["charged_left_out"] = {}
    for name in SPLITS:
        mols = raw[name] if limit is None else raw[name][:limit]
        kept, dropped = require_uncharged(mols, where=f"GEOM {name} split", skip=skip_charged)
        notes["charged_left_out"][name] = len(dropped)
        splits[name] = FlatMolecules(name, kept)
    overlap = geom.split_overlap(splits)
    shared = {f"{a}/{b}": sorted(s)[:3] for (a, b), s in overlap.items() if s}
    if shared:
        raise ValueError(f"GEOM splits share molecules (SMILES): {shared}; a test molecule must never be trained on")
    return splits, notes


def representable(split: FlatSplit, train: FlatSplit, *, name: str) -> tuple[FlatSplit, int]:
    """The molecules of ``split`` that a model sized on ``train`` can hold (its elements, at most its largest
    molecule's atoms), and how many were left out."""
    vocab = set(np.unique(train.numbers).tolist())
    most = int(train.num_atoms.max())
    keep = [split[k] for k in range(len(split))
            if split.num_atoms[k] <= most and set(split[k].numbers.tolist()) <= vocab]
    if len(keep) == len(split):
        return split, 0
    return FlatMolecules(name, keep), len(split) - len(keep)


def canonical_smiles(smiles: Iterable[str]) -> set[str]:
    """Canonical SMILES (no H, no stereo; as :func:`unite_mol.metrics.canonical`) of those RDKit parses."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    from unite_mol.metrics import canonical

    out = set()
    with BlockLogs():
        for s in smiles:
            m = Chem.MolFromSmiles(str(s)) if s else None
            if m is not None:
                out.add(canonical(m))
    return out
