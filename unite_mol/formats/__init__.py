"""File formats behind :mod:`unite_mol.io`: one parser and one writer per format.

A parser yields :data:`Record` tuples ``(record index, line, molecule or None, problem or None)`` (1-based
record and line numbers); :func:`unite_mol.io.read` turns problems into errors or skipped records. A
writer turns one :class:`unite_mol.Molecule` into the text of one record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unite_mol.molecule import Molecule  # noqa: F401  (named in Record)

#: One parsed record: (record index, line, molecule or None, problem or None).
Record = tuple[int, int, "Molecule | None", "str | None"]
