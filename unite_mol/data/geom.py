"""GEOM-drugs from the files people have: the ``rdkit_folder`` layout and split pickles of RDKit molecules.

GEOM (Axelrod & Gomez-Bombarelli, Sci. Data 9, 185 (2022)) cannot be downloaded on the project machines
and no package ships it, so these loaders are tested on small fixtures written in the same formats.

Two layouts are read:

``rdkit_folder`` (the GEOM release itself)
    ``summary_drugs.json`` maps each SMILES to a dict that holds, among others, ``"pickle_path"`` (relative
    to the folder holding the JSON, e.g. ``"drugs/<name>.pickle"``). Each pickle holds a dict whose
    ``"conformers"`` is a list of dicts with ``"rd_mol"`` (an RDKit ``Mol`` with explicit hydrogens and one
    3D conformer), ``"totalenergy"`` (GFN2-xTB, Hartree) and ``"boltzmannweight"``. Use
    :func:`load_rdkit_folder`, after choosing which SMILES go to which split with :func:`split_smiles`
    (the split is by molecule, never by conformer).
split pickles (MiDi's GEOM-drugs split, reused by EQGAT-diff, FlowMol, Megalodon and others)
    ``train``/``val``/``test`` pickles that each hold a list of ``(smiles, [Mol, ...])`` pairs (MiDi's
    ``train_data.pickle``: a molecule with its conformers) or of plain RDKit ``Mol`` objects with 3D
    conformers. Use :func:`load_mol_list` per file or
    :func:`load_split_pickles` for a folder, and :func:`split_overlap` to check that no SMILES is shared.

Every conformer becomes one :class:`~unite_mol.molecule.Molecule` with atomic numbers, positions, formal
charges, bonds (aromatic = 4, as RDKit perceives them in the stored molecule) and properties ``smiles``,
``energy`` (Hartree, GFN2-xTB, when the file has it), ``weight`` (Boltzmann weight, when present),
``conformer`` (index in its ensemble) and ``dataset``.

What a model can represent is checked here, with an error that names the molecule: pass ``elements``
(the model's element vocabulary, atomic numbers or symbols), ``max_atoms`` and optionally ``charges``
(allowed formal charges). ``on_error="skip"`` keeps going and records every skipped molecule with its
reason in :attr:`GeomData.skipped` instead.

**Pickle security.** Unpickling can run arbitrary code. These loaders only ever open files you name, and
by default unpickle through an allow-list (RDKit ``Mol``, NumPy scalars and arrays, plain containers);
a pickle that needs anything else is refused with the name of the global it asked for. Pass
``trusted=True`` to lift the allow-list only for files whose origin you trust.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from unite_mol import elements as _elements
from unite_mol.data.safe_pickle import read_pickle
from unite_mol.molecule import Molecule

SELECTIONS = ("lowest", "top_k", "all")
SPLIT_NAMES = ("train", "valid", "test")

# ---------------------------------------------------------------------------------------------- checks
def _as_numbers(vocab: Iterable[int | str] | None) -> frozenset[int] | None:
    if vocab is None:
        return None
    return frozenset(_elements.atomic_number(v) if isinstance(v, str) else int(v) for v in vocab)


def check_representable(mol: Molecule, *, elements: Iterable[int | str] | None = None,
                        max_atoms: int | None = None, charges: Iterable[int] | None = None,
                        name: str | None = None) -> None:
    """Raise if a model with this element vocabulary, atom limit and charge set cannot hold ``mol``.

    Raises:
        ValueError: naming the molecule (``name``, else its ``smiles``/``name`` property, else its formula)
            and what is out of range.
    """
    label = name or mol.properties.get("smiles") or mol.properties.get("name") or mol.formula
    if max_atoms is not None and mol.num_atoms > max_atoms:
        raise ValueError(f"molecule {label!r} has {mol.num_atoms} atoms (with H), more than max_atoms={max_atoms}; "
                         "raise max_atoms or pass on_error='skip' to leave it out")
    vocab = _as_numbers(elements)
    if vocab is not None:
        outside = sorted(set(mol.numbers.tolist()) - vocab)
        if outside:
            raise ValueError(f"molecule {label!r} has element(s) {[_elements.symbol(z) for z in outside]} outside "
                             f"the vocabulary {[_elements.symbol(z) for z in sorted(vocab)]}; extend the vocabulary "
                             "or pass on_error='skip'")
    if charges is not None:
        allowed = set(int(c) for c in charges)
        bad = sorted(set(mol.formal_charges.tolist()) - allowed)
        if bad:
            raise ValueError(f"molecule {label!r} has formal charge(s) {bad} outside the allowed {sorted(allowed)}")


def vocabulary(molecules: Iterable[Molecule]) -> dict[str, Any]:
    """What occurs in ``molecules``: ``numbers``, ``symbols``, formal ``charges`` (sorted) and ``max_atoms``."""
    zs: set[int] = set()
    qs: set[int] = set()
    most = 0
    for m in molecules:
        zs.update(m.numbers.tolist())
        qs.update(m.formal_charges.tolist())
        most = max(most, m.num_atoms)
    return {"numbers": sorted(zs), "symbols": [_elements.symbol(z) for z in sorted(zs)], "charges": sorted(qs),
            "max_atoms": most}


# ---------------------------------------------------------------------------------------------- results
@dataclass
class GeomData(Sequence[Molecule]):
    """Loaded conformers as a sequence of :class:`Molecule`; ``skipped`` holds ``(smiles, reason)`` pairs."""

    molecules: list[Molecule]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.molecules)

    def __getitem__(self, i):  # type: ignore[override]
        return self.molecules[i]

    def __iter__(self) -> Iterator[Molecule]:
        return iter(self.molecules)

    @property
    def smiles(self) -> list[str]:
        """The distinct SMILES, in order of first appearance."""
        return list(dict.fromkeys(m.properties.get("smiles", "") for m in self.molecules))

    def __repr__(self) -> str:
        return f"GeomData({len(self.molecules)} conformers of {len(self.smiles)} molecules, {len(self.skipped)} skipped)"


def _to_molecule(rd_mol: Any, props: dict[str, Any], conf_id: int = -1) -> Molecule:
    mol = Molecule.from_rdkit(rd_mol, conf_id=conf_id)
    keep = {k: v for k, v in mol.properties.items() if not k.startswith("_")}
    keep.update(props)
    return mol.replace(properties=keep)


def _rdkit_smiles(rd_mol: Any) -> str:
    from rdkit import Chem

    try:
        return Chem.MolToSmiles(Chem.RemoveHs(rd_mol))
    except (ValueError, RuntimeError) as exc:  # RDKit's sanitisation errors; the reason is kept in the text
        return f"<no SMILES: {type(exc).__name__}: {exc}>"


class _Collector:
    """Applies the representability checks and the on_error policy in one place."""

    def __init__(self, on_error: str, elements, max_atoms, charges):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if max_atoms is not None and max_atoms < 1:
            raise ValueError(f"max_atoms must be at least 1, got {max_atoms}")
        self.on_error, self.elements, self.max_atoms, self.charges = on_error, _as_numbers(elements), max_atoms, charges
        self.out: list[Molecule] = []
        self.skipped: list[tuple[str, str]] = []

    def fail(self, smiles: str, reason: str) -> None:
        if self.on_error == "raise":
            raise ValueError(f"molecule {smiles!r}: {reason}")
        self.skipped.append((smiles, reason))

    def add(self, smiles: str, mols: list[Molecule]) -> None:
        try:
            for m in mols:
                check_representable(m, elements=self.elements, max_atoms=self.max_atoms, charges=self.charges,
                                    name=smiles)
        except ValueError as exc:
            if self.on_error == "raise":
                raise
            self.skipped.append((smiles, str(exc)))
            return
        self.out.extend(mols)


def select_conformers(conformers: Sequence[dict], select: str = "lowest", *, top_k: int = 1) -> list[int]:
    """Indices of the conformers to keep from one GEOM ensemble.

    ``"lowest"``: the one with the lowest ``totalenergy``; ``"top_k"``: the ``top_k`` with the largest
    ``boltzmannweight`` (ties by energy, then by index); ``"all"``: every conformer, in file order.

    Raises:
        ValueError: for an unknown selection, ``top_k < 1``, an empty ensemble or a missing key.
    """
    if select not in SELECTIONS:
        raise ValueError(f"unknown conformer selection {select!r}; choose one of {SELECTIONS}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if not conformers:
        raise ValueError("the ensemble has no conformers")
    if select == "all":
        return list(range(len(conformers)))
    try:
        energy = np.array([float(c["totalenergy"]) for c in conformers])
        if select == "lowest":
            return [int(np.argmin(energy))]
        weight = np.array([float(c["boltzmannweight"]) for c in conformers])
    except KeyError as exc:
        raise ValueError(f"conformer selection {select!r} needs the key {exc.args[0]!r} in every conformer") from exc
    order = np.lexsort((np.arange(len(conformers)), energy, -weight))
    return [int(i) for i in order[:top_k]]


# ---------------------------------------------------------------------------------------------- splits
def split_smiles(smiles: Iterable[str], *, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 seed: int = 0) -> dict[str, list[str]]:
    """A seeded split of distinct SMILES into train / valid / test (so conformers follow their molecule).

    The SMILES are de-duplicated and sorted before ``numpy.random.default_rng(seed).permutation``, so the
    split depends on the set of SMILES and the seed only, not on file order.

    Raises:
        ValueError: if ``fractions`` are not three non-negative numbers summing to 1.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers (train, valid, test) summing to 1, got {fractions}")
    keys = sorted(set(smiles))
    perm = np.random.default_rng(seed).permutation(len(keys))
    a = int(round(fr[0] * len(keys)))
    b = a + int(round(fr[1] * len(keys)))
    b = min(b, len(keys))
    return {"train": [keys[i] for i in perm[:a]], "valid": [keys[i] for i in perm[a:b]],
            "test": [keys[i] for i in perm[b:]]}


def split_by_molecule(molecules: Iterable[Molecule], *, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                      seed: int = 0) -> dict[str, list[Molecule]]:
    """Split conformers by their ``smiles`` property: all conformers of one molecule land in one split.

    Raises:
        ValueError: if a molecule has no ``smiles`` property, or for bad ``fractions``.
    """
    mols = list(molecules)
    missing = [k for k, m in enumerate(mols) if not m.properties.get("smiles")]
    if missing:
        raise ValueError(f"molecule {missing[0]} has no 'smiles' property, so it cannot be split by molecule")
    where = {s: name for name, keys in split_smiles((m.properties["smiles"] for m in mols), fractions=fractions,
                                                   seed=seed).items() for s in keys}
    out: dict[str, list[Molecule]] = {name: [] for name in SPLIT_NAMES}
    for m in mols:
        out[where[m.properties["smiles"]]].append(m)
    return out


def split_overlap(splits: dict[str, Iterable[Molecule]]) -> dict[tuple[str, str], set[str]]:
    """SMILES shared between each pair of splits (empty sets when the split is clean)."""
    keys = {name: {m.properties.get("smiles") or _rdkit_smiles(m.to_rdkit(sanitize=False)) for m in mols}
            for name, mols in splits.items()}
    names = list(keys)
    return {(a, b): keys[a] & keys[b] for i, a in enumerate(names) for b in names[i + 1:]}


# ---------------------------------------------------------------------------------------------- rdkit_folder
def read_summary(path: str | Path) -> dict[str, dict]:
    """The GEOM summary JSON (``summary_drugs.json``): SMILES -> metadata with ``"pickle_path"``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a JSON object of objects.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        try:
            summary = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(summary, dict) or not all(isinstance(v, dict) for v in summary.values()):
        raise ValueError(f"{path}: expected a JSON object mapping SMILES to objects (GEOM's summary_drugs.json)")
    return summary


def load_rdkit_folder(root: str | Path, *, summary: str = "summary_drugs.json", smiles: Iterable[str] | None = None,
                      select: str = "lowest", top_k: int = 1, elements: Iterable[int | str] | None = None,
                      max_atoms: int | None = None, charges: Iterable[int] | None = None,
                      on_error: str = "raise", limit: int | None = None, trusted: bool = False,
                      progress: bool = False) -> GeomData:
    """Conformers from GEOM's ``rdkit_folder`` layout.

    Args:
        root: the folder holding ``summary`` (``pickle_path`` entries are relative to it).
        summary: the summary JSON's file name (``summary_drugs.json``; ``summary_qm9.json`` also works).
        smiles: only these molecules (e.g. one split from :func:`split_smiles`); default all, in JSON order.
        select: ``"lowest"`` energy, ``"top_k"`` by Boltzmann weight, or ``"all"`` (see :func:`select_conformers`).
        top_k: how many conformers ``"top_k"`` keeps.
        elements, max_atoms, charges: what the model can represent (see :func:`check_representable`).
        on_error: ``"raise"`` at the first problem, or ``"skip"`` and record ``(smiles, reason)`` in ``skipped``.
        limit: stop after this many molecules (after ``smiles`` filtering).
        trusted: unpickle without the allow-list (only for files whose origin you trust).
        progress: show a tqdm bar.

    Raises:
        FileNotFoundError: if the summary file is missing.
        ValueError: for bad options; with ``on_error="raise"``, for a molecule that has no pickle, whose
            pickle is missing or malformed, or that the model cannot represent (the message names it).
    """
    root = Path(root)
    table = read_summary(root / summary)
    wanted = list(table) if smiles is None else list(dict.fromkeys(smiles))
    if limit is not None:
        wanted = wanted[:limit]
    select_conformers([{"totalenergy": 0.0, "boltzmannweight": 1.0}], select, top_k=top_k)  # validate options early
    col = _Collector(on_error, elements, max_atoms, charges)
    if progress:
        from tqdm import tqdm

        wanted = tqdm(wanted, desc="GEOM molecules", mininterval=2)
    for smi in wanted:
        meta = table.get(smi)
        if meta is None:
            col.fail(smi, f"not in {summary}")
            continue
        rel = meta.get("pickle_path")
        if not rel:
            col.fail(smi, f"{summary} gives no pickle_path (GEOM lists some molecules without conformers)")
            continue
        path = root / rel
        if not path.is_file():
            col.fail(smi, f"pickle {path} does not exist")
            continue
        try:
            record = read_pickle(path, trusted=trusted)
            if not isinstance(record, dict) or not isinstance(record.get("conformers"), list):
                raise ValueError(f"{path}: expected a dict with a 'conformers' list (GEOM rdkit_folder pickle)")
            confs = record["conformers"]
            keep = select_conformers(confs, select, top_k=top_k)
            mols = []
            for k in keep:
                c = confs[k]
                if "rd_mol" not in c:
                    raise ValueError(f"{path}: conformer {k} has no 'rd_mol'")
                props = {"smiles": smi, "conformer": k, "dataset": "geom-drugs"}
                if "totalenergy" in c:
                    props["energy"] = float(c["totalenergy"])
                if "boltzmannweight" in c:
                    props["weight"] = float(c["boltzmannweight"])
                if "geom_id" in c:
                    props["geom_id"] = int(c["geom_id"])
                mols.append(_to_molecule(c["rd_mol"], props))
        except ValueError as exc:
            col.fail(smi, str(exc))
            continue
        col.add(smi, mols)
    return GeomData(col.out, col.skipped)


# ---------------------------------------------------------------------------------------------- split pickles
def load_mol_list(path: str | Path, *, max_conformers: int | None = None,
                  elements: Iterable[int | str] | None = None, max_atoms: int | None = None,
                  charges: Iterable[int] | None = None, on_error: str = "raise", trusted: bool = False) -> GeomData:
    """Conformers from a split pickle of RDKit molecules (MiDi's files, also used by EQGAT-diff, FlowMol, ...).

    Two shapes of list are read, entry by entry:

    - ``(smiles, [Mol, Mol, ...])`` pairs, one per molecule with its conformers (MiDi's
      ``train_data.pickle``; MiDi itself keeps the first 5 conformers, ``max_conformers=5``);
    - plain RDKit ``Mol`` objects, each with one or more conformers (a conformer per entry is common).

    Args:
        path: the pickle (e.g. ``train_data.pickle``).
        max_conformers: keep at most this many conformers per entry, in file order (``None``: all).
        elements, max_atoms, charges, on_error, trusted: as for :func:`load_rdkit_folder`.

    The ``smiles`` property is the pair's SMILES, or for a bare ``Mol`` RDKit's canonical SMILES without
    hydrogens; ``energy`` comes from a ``totalenergy`` or ``energy`` property of the ``Mol`` when present
    (RDKit pickles keep properties only when they were written with property pickling switched on).

    Raises:
        ValueError: if the file does not hold a list, for bad options, and (``on_error="raise"``) for an
            entry that is neither shape, a molecule without a 3D conformer, or one the model cannot
            represent (the message names it).
    """
    from rdkit import Chem

    if max_conformers is not None and max_conformers < 1:
        raise ValueError(f"max_conformers must be at least 1 (or None for all), got {max_conformers}")
    path = Path(path)
    items = read_pickle(path, trusted=trusted)
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{path}: expected a list of RDKit molecules or (smiles, conformers) pairs, "
                         f"got {type(items).__name__}")
    col = _Collector(on_error, elements, max_atoms, charges)
    for k, entry in enumerate(items):
        where = f"{path.name}[{k}]"
        if isinstance(entry, Chem.Mol):
            smi = _rdkit_smiles(entry)
            confs = [(entry, c.GetId()) for c in entry.GetConformers()]
        elif (isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str)
              and isinstance(entry[1], (list, tuple)) and all(isinstance(m, Chem.Mol) for m in entry[1])):
            smi = entry[0]
            confs = [(m, c.GetId()) for m in entry[1] for c in m.GetConformers()]
        else:
            col.fail(where, f"entry is a {type(entry).__name__}, neither an RDKit Mol nor a (smiles, [Mol, ...]) pair")
            continue
        if not confs:
            col.fail(smi, f"{where} has no conformer")
            continue
        if max_conformers is not None:
            confs = confs[:max_conformers]
        try:
            mols = []
            for j, (rd, cid) in enumerate(confs):
                props: dict[str, Any] = {"smiles": smi, "index": k, "conformer": j, "dataset": "geom-drugs"}
                for key in ("totalenergy", "energy"):
                    if rd.HasProp(key):
                        props["energy"] = float(rd.GetProp(key))
                        break
                mols.append(_to_molecule(rd, props, conf_id=cid))
        except ValueError as exc:
            col.fail(smi, f"{where}: {exc}")
            continue
        col.add(smi, mols)
    return GeomData(col.out, col.skipped)


def load_split_pickles(folder: str | Path, *, pattern: str = "{split}_data.pickle",
                       names: dict[str, str] | None = None, **kwargs: Any) -> dict[str, GeomData]:
    """The ``train``/``valid``/``test`` pickles of a folder (MiDi names: ``train_data.pickle``, ``val_data.pickle``...).

    Args:
        folder: where the files are.
        pattern: file name with ``{split}`` standing for the file's split word.
        names: our split name -> the word in the file name; default ``train``, ``val``, ``test``.
        **kwargs: passed to :func:`load_mol_list`.

    Raises:
        FileNotFoundError: naming every expected file that is missing.
    """
    folder = Path(folder)
    names = names or {"train": "train", "valid": "val", "test": "test"}
    paths = {ours: folder / pattern.format(split=word) for ours, word in names.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"split pickles not found: {missing} (set pattern= or names= for other file names)")
    return {ours: load_mol_list(p, **kwargs) for ours, p in paths.items()}
