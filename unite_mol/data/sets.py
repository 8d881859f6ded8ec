"""One dataset interface for training: QM9, the offline drug-like set, GEOM-drugs files.

Every way of training a molecule model (``python -m unite_mol.train --dataset ...``, ``bench drugs``) reads its
data through a :class:`TrainingSet`, made by :func:`training_set` from a name:

``"qm9"``
    QM9 from ``qm9pack`` (:mod:`unite_mol.data.qm9`), the pinned 100,000 / 17,748 / 13,083 split; bond labels
    perceived from the DFT geometry (:mod:`unite_mol.data.bond_labels`).
``"druglike"`` or ``"druglike:SIZE"``
    the offline drug-like set (:mod:`unite_mol.data.druglike`: MOSES SMILES, ETKDG + MMFF94), ``SIZE``
    molecules (default 2,000), built on first use; bond labels are the molecules' own RDKit bonds.
``"geom:PATH"``
    GEOM-drugs from the user's files (:mod:`unite_mol.data.geom`): ``PATH`` is a folder with MiDi's split
    pickles (``train_data.pickle``, ``val_data.pickle``, ``test_data.pickle``) or GEOM's ``rdkit_folder``
    layout (``summary_drugs.json`` + pickles, split by molecule with a seed); bond labels are the stored
    molecules' RDKit bonds.

A set gives its splits (``"train"``, ``"valid"``, ``"test"``) as :class:`~unite_mol.data.flat.FlatSplit`
(flat ``numbers``, ``positions``, ``offsets``, ``num_atoms``, ``smiles``, for
:func:`~unite_mol.data.batching.collate_arrays`), bond labels in one format for all of them
(``(bond_offsets, bond_rows)``: molecule ``k``'s bonds are rows ``bond_offsets[k]:bond_offsets[k+1]`` of
``(i, j, order)``, ``i < j`` local atom indices, order 1-3 or 4 for aromatic), the element vocabulary of its
training split, and a fingerprint of its data for a model's sidecar.

**No formal charges.** The molecule adapter has no charge head, so a charged molecule cannot be trained on
without being silently changed: a set refuses one with a ``ValueError`` that names it, unless it was made
with ``skip_charged=True`` (then such molecules are left out and counted in :meth:`TrainingSet.notes`). The
drug-like set has none (MOSES filtered them out); GEOM-drugs has some.

Usage: ``data = training_set("druglike"); data.split("train")`` (a FlatSplit), ``data.bond_labels("train")``
(``(bond_offsets, bond_rows)``), ``data.elements``, ``data.fingerprint()``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from unite_mol.data.flat import FlatSplit
from unite_mol.molecule import Molecule

SPLITS = ("train", "valid", "test")
BondLabels = tuple[np.ndarray, np.ndarray]


class TrainingSet(ABC):
    """A dataset with train / valid / test splits, as training reads it (see the module docstring)."""

    #: the name it was made from, canonical (``"qm9"``, ``"druglike:20000"``, ``"geom:/abs/path"``)
    name: str

    def __init__(self) -> None:
        self._splits: dict[str, FlatSplit] = {}

    @abstractmethod
    def _load(self, split: str) -> FlatSplit:
        """Split ``split`` (a valid name)."""

    @abstractmethod
    def _bond_labels(self, split: str) -> BondLabels | None:
        """Bond labels of split ``split`` (a valid name), or None when the set has none."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A short text that pins down the data (source, version, split, settings or a hash of the arrays)."""

    def notes(self) -> dict[str, Any]:
        """What a results file should say about the data (JSON-able): at least ``source``."""
        return {"source": self.name}

    def split(self, name: str) -> FlatSplit:
        """One split: ``"train"``, ``"valid"`` or ``"test"``.

        Raises:
            ValueError: for an unknown split name (or data problems the set reports, e.g. a charged molecule).
        """
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {list(SPLITS)}")
        if name not in self._splits:
            self._splits[name] = self._load(name)
        return self._splits[name]

    def bond_labels(self, name: str) -> BondLabels | None:
        """``(bond_offsets, bond_rows)`` of a split (see the module docstring), or None if the set has none.

        Raises:
            ValueError: for an unknown split name.
        """
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {list(SPLITS)}")
        return self._bond_labels(name)

    @property
    def elements(self) -> tuple[int, ...]:
        """The atomic numbers in the training split, sorted: the vocabulary a model trained on it has."""
        return tuple(int(z) for z in np.unique(self.split("train").numbers))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# ---------------------------------------------------------------------------------------------- QM9
class QM9Set(TrainingSet):
    """QM9 (:func:`unite_mol.data.qm9.qm9`), bond labels from :func:`unite_mol.data.bond_labels.qm9_bond_labels`."""

    name = "qm9"

    def _load(self, split: str) -> FlatSplit:
        from unite_mol.data.qm9 import qm9

        return qm9(split)

    def _bond_labels(self, split: str) -> BondLabels:
        from unite_mol.data.bond_labels import qm9_bond_labels

        return qm9_bond_labels(split)

    def fingerprint(self) -> str:
        from unite_mol.data.qm9 import data_fingerprint

        return data_fingerprint()

    def notes(self) -> dict[str, Any]:
        return {"source": "qm9"}


# ---------------------------------------------------------------------------------------------- molecule lists
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
                                 "with --skip-charged (python -m unite_mol.train, python -m unite_mol.bench drugs) "
                                 "or skip_charged=True.")
            dropped.append(label)
            continue
        kept.append(m)
    return kept, dropped


def bond_labels_of(molecules: Iterable[Molecule]) -> BondLabels:
    """``(bond_offsets, bond_rows)`` from molecules' own bonds (``i < j``, sorted), QM9's label format.

    Raises:
        ValueError: naming the molecule, if one has no bonds although it has several atoms (a file without
            connectivity), or a bond order outside 1-4.
    """
    parts, counts = [], []
    for k, m in enumerate(molecules):
        rows = np.asarray(m.bonds if m.bonds is not None else np.zeros((0, 3)), np.int64).reshape(-1, 3).copy()
        if len(rows) == 0 and m.num_atoms > 1:
            raise ValueError(f"molecule {molecule_label(m, k)!r} has no bonds; bond labels need the molecule's bonds")
        if len(rows) and not np.isin(rows[:, 2], (1, 2, 3, 4)).all():
            raise ValueError(f"molecule {molecule_label(m, k)!r} has bond orders {sorted(set(rows[:, 2].tolist()))}; "
                             "labels are 1, 2, 3 or 4 (aromatic)")
        rows[:, :2].sort(axis=1)
        parts.append(rows[np.lexsort((rows[:, 1], rows[:, 0]))])
        counts.append(len(rows))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, (np.concatenate(parts) if parts else np.zeros((0, 3), np.int64))


def arrays_sha256(splits: dict[str, FlatSplit]) -> str:
    """SHA-256 of the splits' flat arrays (atomic numbers, float64 coordinates, offsets), in split order."""
    h = hashlib.sha256()
    for name in sorted(splits):
        s = splits[name]
        h.update(name.encode())
        for a in (np.asarray(s.numbers, "<i8"), np.asarray(s.positions, "<f8"), np.asarray(s.offsets, "<i8")):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- drug-like
class DrugLikeSet(TrainingSet):
    """The offline drug-like set (:func:`unite_mol.data.druglike.druglike`) of ``size`` molecules."""

    def __init__(self, size: int | None = None, *, seed: int | None = None, workers: int | None = None,
                 skip_charged: bool = False, progress: bool = True):
        from unite_mol.data import druglike as dl

        super().__init__()
        self.size = dl.DEFAULT_SIZE if size is None else int(size)
        self.seed = dl.DEFAULT_SEED if seed is None else int(seed)
        if self.size < 1:
            raise ValueError(f"the drug-like set needs a size of at least 1, got {self.size}")
        self.workers = dl.DEFAULT_WORKERS if workers is None else int(workers)
        self.skip_charged = skip_charged
        self.progress = progress
        self.name = "druglike" if self.size == dl.DEFAULT_SIZE else f"druglike:{self.size}"
        if self.seed != dl.DEFAULT_SEED:
            self.name += f" (seed {self.seed})"
        self._charged: dict[str, int] = {}

    def _load(self, split: str) -> FlatSplit:
        from unite_mol.data.druglike import druglike

        s = druglike(split, size=self.size, seed=self.seed, workers=self.workers, progress=self.progress)
        if s.charges.any():   # never expected (MOSES has no charged atoms); checked, not assumed
            kept, dropped = require_uncharged(s, where=f"drug-like {split} split", skip=self.skip_charged)
            self._charged[split] = len(dropped)
            return FlatMolecules(split, kept)
        return s

    def _bond_labels(self, split: str) -> BondLabels:
        s = self.split(split)
        if isinstance(s, FlatMolecules):
            return bond_labels_of(s)
        return s.bond_labels()

    def fingerprint(self) -> str:
        from unite_mol.data import druglike as dl

        settings = dl.build_settings(self.seed)
        return (f"molsets-{settings['molsets']} {dl.SOURCE_FILE} size {self.size} seed {self.seed} "
                f"settings {dl.settings_key(self.seed)}")

    def notes(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": "druglike", "size": self.size, "seed": self.seed}
        if self._charged:
            out["charged_left_out"] = dict(self._charged)
        return out


# ---------------------------------------------------------------------------------------------- GEOM
GEOM_LAYOUTS = {"split-pickles": "train_data.pickle", "rdkit-folder": "summary_drugs.json"}


def geom_layout(path: str | Path, layout: str | None = None) -> str:
    """Which GEOM layout a folder holds: ``"split-pickles"`` or ``"rdkit-folder"`` (``layout``: the one expected).

    Raises:
        ValueError: for an unknown ``layout``.
        FileNotFoundError: if the folder does not exist or holds neither layout's files (or not ``layout``'s).
    """
    if layout is not None and layout not in GEOM_LAYOUTS:
        raise ValueError(f"unknown GEOM layout {layout!r}; choose one of {list(GEOM_LAYOUTS)}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"GEOM folder {str(folder)!r} does not exist (geom:PATH names a folder with MiDi's "
                                "split pickles or GEOM's rdkit_folder layout)")
    if layout is not None:
        if not (folder / GEOM_LAYOUTS[layout]).is_file():
            raise FileNotFoundError(f"{folder} has no {GEOM_LAYOUTS[layout]} (GEOM {layout} layout)")
        return layout
    found = [name for name, marker in GEOM_LAYOUTS.items() if (folder / marker).is_file()]
    if not found:
        raise FileNotFoundError(f"{folder} holds neither {GEOM_LAYOUTS['split-pickles']} (MiDi's split pickles, with "
                                f"val_data.pickle and test_data.pickle) nor {GEOM_LAYOUTS['rdkit-folder']} (GEOM's "
                                "rdkit_folder layout)")
    return found[0]


class GeomSet(TrainingSet):
    """GEOM-drugs from a folder of split pickles or an ``rdkit_folder`` (see :func:`geom_layout`).

    ``conformers``: conformers per molecule read from split pickles (an ``rdkit_folder`` gives each molecule's
    lowest-energy one); ``limit``: at most this many molecules per split; ``seed``: the by-molecule split of an
    ``rdkit_folder``; ``trusted``: unpickle without the allow-list (:mod:`unite_mol.data.safe_pickle`);
    ``layout``: insist on one layout instead of detecting it.

    Raises:
        FileNotFoundError, ValueError: from :func:`geom_layout`, and for bad options.
    """

    def __init__(self, path: str | Path, *, conformers: int = 1, limit: int | None = None, seed: int = 0,
                 skip_charged: bool = False, trusted: bool = False, layout: str | None = None):
        super().__init__()
        self.folder = Path(path).resolve()
        self.layout = geom_layout(self.folder, layout)
        if conformers < 1:
            raise ValueError(f"conformers must be at least 1, got {conformers}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1 (or None), got {limit}")
        self.conformers, self.limit, self.seed = conformers, limit, seed
        self.skip_charged, self.trusted = skip_charged, trusted
        self.name = f"geom:{self.folder}"
        self._charged: dict[str, int] = {}

    def _load_all(self) -> None:
        from unite_mol.data import geom

        if self.layout == "split-pickles":
            loaded = geom.load_split_pickles(self.folder, max_conformers=self.conformers, trusted=self.trusted)
            raw = {name: list(loaded[name]) for name in SPLITS}
        else:
            table = geom.read_summary(self.folder / GEOM_LAYOUTS["rdkit-folder"])
            keys = [s for s, meta in table.items() if meta.get("pickle_path")]
            parts = geom.split_smiles(keys, seed=self.seed)
            raw = {name: list(geom.load_rdkit_folder(self.folder, smiles=parts[name][: self.limit],
                                                     trusted=self.trusted)) for name in SPLITS}
        splits = {}
        for name in SPLITS:
            mols = raw[name] if self.limit is None else raw[name][: self.limit]
            kept, dropped = require_uncharged(mols, where=f"GEOM {name} split", skip=self.skip_charged)
            self._charged[name] = len(dropped)
            splits[name] = FlatMolecules(name, kept)
        overlap = geom.split_overlap(splits)
        shared = {f"{a}/{b}": sorted(s)[:3] for (a, b), s in overlap.items() if s}
        if shared:
            raise ValueError(f"GEOM splits share molecules (SMILES): {shared}; a test molecule must never be "
                             "trained on")
        self._splits.update(splits)

    def _load(self, split: str) -> FlatSplit:
        self._load_all()
        return self._splits[split]

    def _bond_labels(self, split: str) -> BondLabels:
        return bond_labels_of(self.split(split))

    def fingerprint(self) -> str:
        for name in SPLITS:
            self.split(name)
        return (f"geom {self.layout} {self.folder} conformers {self.conformers} limit {self.limit} seed {self.seed} "
                f"skip_charged {self.skip_charged} arrays sha256 {arrays_sha256(self._splits)}")

    def notes(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": f"geom-{self.layout}", "folder": str(self.folder),
                               "conformers": self.conformers if self.layout == "split-pickles" else "lowest energy"}
        if self.layout == "rdkit-folder":
            out["seed"] = self.seed
        out["charged_left_out"] = dict(self._charged)
        return out


# ---------------------------------------------------------------------------------------------- by name
def parse_name(name: str) -> tuple[str, str | None]:
    """``(kind, argument)`` of a dataset name: ``("qm9", None)``, ``("druglike", "20000")``, ``("geom", PATH)``.

    Raises:
        ValueError: for an unknown name, a drug-like size that is not a positive integer, or ``geom:`` without
            a path.
    """
    kind, sep, arg = str(name).partition(":")
    if kind == "qm9" and not sep:
        return "qm9", None
    if kind == "druglike":
        if sep and not (arg.isdigit() and int(arg) >= 1):
            raise ValueError(f"dataset {name!r}: the drug-like size must be a positive integer, e.g. druglike:20000")
        return "druglike", arg or None
    if kind == "geom":
        if not arg:
            raise ValueError("dataset 'geom:' needs a folder: geom:PATH (MiDi's split pickles or GEOM's rdkit_folder)")
        return "geom", arg
    raise ValueError(f"unknown dataset {name!r}; choose 'qm9', 'druglike' (or 'druglike:SIZE') or 'geom:PATH'")


def canonical_name(name: str) -> str:
    """The name a set made from ``name`` has (without reading data): ``"druglike:2000"`` -> ``"druglike"``,
    ``"geom:rel/path"`` -> ``"geom:/abs/path"``.

    Raises:
        ValueError: as :func:`parse_name`.
    """
    from unite_mol.data.druglike import DEFAULT_SIZE

    kind, arg = parse_name(name)
    if kind == "druglike":
        return "druglike" if arg is None or int(arg) == DEFAULT_SIZE else f"druglike:{int(arg)}"
    if kind == "geom":
        return f"geom:{Path(arg).resolve()}"
    return kind


def training_set(name: str, *, skip_charged: bool = False, seed: int | None = None, workers: int | None = None,
                 progress: bool = True, geom_conformers: int = 1, geom_limit: int | None = None,
                 trusted: bool = False) -> TrainingSet:
    """The dataset called ``name`` (see the module docstring). Cheap: data are read on first use, except that
    a GEOM folder's layout is checked now.

    ``seed``: the drug-like set's sampling seed or the GEOM ``rdkit_folder`` split seed (default 0);
    ``workers``/``progress``: building the drug-like set; ``geom_*`` and ``trusted``: see :class:`GeomSet`.

    Raises:
        ValueError: for an unknown name or bad options.
        FileNotFoundError: for a GEOM path that does not exist or holds neither GEOM layout.
    """
    kind, arg = parse_name(name)
    if kind == "qm9":
        return QM9Set()
    if kind == "druglike":
        return DrugLikeSet(None if arg is None else int(arg), seed=seed, workers=workers, skip_charged=skip_charged,
                           progress=progress)
    return GeomSet(arg, conformers=geom_conformers, limit=geom_limit, seed=0 if seed is None else seed,
                   skip_charged=skip_charged, trusted=trusted)


def representable_rows(split: FlatSplit, elements: Iterable[int], max_atoms: int) -> np.ndarray:
    """Indices of the molecules of ``split`` with only ``elements`` and at most ``max_atoms`` atoms."""
    if len(split) == 0:
        return np.zeros(0, np.int64)
    known = np.isin(split.numbers, np.asarray(list(elements), np.int64))                 # per atom
    all_known = np.logical_and.reduceat(known, split.offsets[:-1]) if len(known) else np.ones(len(split), bool)
    return np.flatnonzero(all_known & (split.num_atoms <= max_atoms) & (split.num_atoms > 0))


def representable(split: FlatSplit, train: FlatSplit, *, name: str) -> tuple[FlatSplit, int]:
    """The molecules of ``split`` that a model sized on ``train`` can hold (its elements, at most its largest
    molecule's atoms), and how many were left out."""
    keep = representable_rows(split, np.unique(train.numbers), int(train.num_atoms.max()))
    if len(keep) == len(split):
        return split, 0
    return FlatMolecules(name, [split[k] for k in keep]), len(split) - len(keep)
