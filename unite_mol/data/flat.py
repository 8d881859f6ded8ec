"""A dataset split stored as flat per-atom arrays, read as a sequence of :class:`Molecule` on access.

Subclasses set ``name`` and ``num_atoms`` and implement :meth:`FlatSplit.molecule` (molecule ``k``, a valid
index); indexing, slicing, negative indices, iteration and the range error live here once.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Iterator, Sequence, overload

import numpy as np

from unite_mol.molecule import Molecule


class FlatSplit(Sequence[Molecule]):
    name: str
    label: str = "dataset"      # how error messages name the dataset

    @abstractmethod
    def molecule(self, k: int) -> Molecule:
        """Molecule ``k`` (0 <= k < len(self))."""

    def __len__(self) -> int:
        return len(self.num_atoms)

    def _select(self, data: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        """Hold molecules ``rows`` of the flat arrays ``data`` (``offsets``, ``numbers``, ``positions``,
        ``smiles``) as ``num_atoms``, ``numbers``, ``positions``, ``offsets`` and ``smiles``; returns their
        atom rows in ``data``, for further per-atom fields."""
        self._rows = rows
        starts, ends = data["offsets"][rows], data["offsets"][rows + 1]
        self.num_atoms = (ends - starts).astype(np.int64)
        atom_rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if len(rows) else np.zeros(0, int)
        self.numbers = data["numbers"][atom_rows].astype(np.int64)
        self.positions = data["positions"][atom_rows]
        self.offsets = np.concatenate([[0], np.cumsum(self.num_atoms)]).astype(np.int64)
        self.smiles = data["smiles"][rows]
        return atom_rows

    @overload
    def __getitem__(self, i: int) -> Molecule: ...
    @overload
    def __getitem__(self, i: slice) -> list[Molecule]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = int(i)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(f"{self.label} {self.name} has {len(self)} molecules, index {i} is out of range")
        return self.molecule(k)

    def __iter__(self) -> Iterator[Molecule]:
        for k in range(len(self)):
            yield self.molecule(k)
