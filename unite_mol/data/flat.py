"""A dataset split stored as flat per-atom arrays, read as a sequence of :class:`Molecule` on access.

Subclasses set ``name`` and ``num_atoms`` and implement :meth:`FlatSplit.molecule` (molecule ``k``, a valid
index); indexing, slicing, negative indices, iteration and the range error live here once.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Iterator, Sequence, overload

from unite_mol.molecule import Molecule


class FlatSplit(Sequence[Molecule]):
    name: str
    label: str = "dataset"      # how error messages name the dataset

    @abstractmethod
    def molecule(self, k: int) -> Molecule:
        """Molecule ``k`` (0 <= k < len(self))."""

    def __len__(self) -> int:
        return len(self.num_atoms)

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
