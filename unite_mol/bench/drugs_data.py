"""The drug bench's data: a :class:`unite_mol.data.sets.TrainingSet` (the offline drug-like set, the user's
GEOM-drugs files, any ``--dataset`` name) as its ``train`` and ``test`` flat splits.

The sets, the flat split of a molecule list (:class:`FlatMolecules`), the formal-charge check
(:func:`require_uncharged`) and :func:`representable` live in :mod:`unite_mol.data.sets`, which
``python -m unite_mol.train --dataset`` reads too; they are re-exported here for the bench.

**Formal charges.** The molecule adapter (:mod:`unite_mol.molecular`) has no charge head: it reads and
writes elements and coordinates only. The drug-like set has no charged atom (none of the 1.58M MOSES
training SMILES has one: MOSES filtered them out), so nothing is lost there. GEOM-drugs does have charged
molecules (zwitterions, ammonium, nitro groups); handing one to this model would silently train it on a
molecule it cannot give back, so :func:`require_uncharged` raises a ``ValueError`` naming the molecule,
unless the caller asks to leave charged molecules out (``skip=True``; how many is recorded).
"""

from __future__ import annotations

from typing import Iterable

from unite_mol.data.flat import FlatSplit
from unite_mol.data.sets import (DrugLikeSet, FlatMolecules, GeomSet, TrainingSet, molecule_label,  # noqa: F401
                                 representable, require_uncharged)

SPLITS = ("train", "test")   # the bench trains on one and measures on the other; validation splits are not read


def bench_splits(data: TrainingSet) -> tuple[dict[str, FlatSplit], dict]:
    """The bench's ``train`` and ``test`` splits of a training set, and notes about it (charged molecules left
    out are counted for those two splits)."""
    splits = {name: data.split(name) for name in SPLITS}
    notes = data.notes()
    if "charged_left_out" in notes:
        notes["charged_left_out"] = {name: notes["charged_left_out"].get(name, 0) for name in SPLITS}
    return splits, notes


def druglike_splits(size: int, *, seed: int = 0, skip_charged: bool = False) -> tuple[dict[str, FlatSplit], dict]:
    """The drug-like set (``size`` molecules, built on first use with one worker) and notes about it."""
    return bench_splits(DrugLikeSet(size, seed=seed, workers=1, progress=False, skip_charged=skip_charged))


def geom_splits(*, split_pickles: str | None = None, rdkit_folder: str | None = None, limit: int | None = None,
                conformers: int = 1, seed: int = 0, skip_charged: bool = False,
                trusted: bool = False) -> tuple[dict[str, FlatSplit], dict]:
    """GEOM-drugs from MiDi-style split pickles (``train_data.pickle``, ``val_data.pickle``,
    ``test_data.pickle`` in one folder) or from the ``rdkit_folder`` layout (split by molecule with
    :func:`unite_mol.data.geom.split_smiles`, lowest-energy conformer), at most ``limit`` molecules per split
    and ``conformers`` conformers per molecule (split pickles): :class:`unite_mol.data.sets.GeomSet`.

    Raises:
        ValueError: if not exactly one source is given, for a charged molecule (unless ``skip_charged``),
            or for an empty split.
        FileNotFoundError: for missing files.
    """
    if (split_pickles is None) == (rdkit_folder is None):
        raise ValueError("give exactly one GEOM source: split_pickles= (a folder of MiDi split pickles) or rdkit_folder=")
    layout = "split-pickles" if split_pickles is not None else "rdkit-folder"
    return bench_splits(GeomSet(split_pickles or rdkit_folder, conformers=conformers, limit=limit, seed=seed,
                                skip_charged=skip_charged, trusted=trusted, layout=layout))


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
