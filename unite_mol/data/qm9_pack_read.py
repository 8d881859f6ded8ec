"""Reading a QM9 pack (:mod:`unite_mol.data.qm9_pack` writes them): ``$UNITE_MOL_QM9_PACK``, the processed
arrays and the splits' bond labels.

Apart from the writer so that :mod:`unite_mol.data.qm9` and :mod:`unite_mol.data.bond_labels` can read a pack
while the writer reads both of them (no import circle).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

PACK_ENV = "UNITE_MOL_QM9_PACK"
PACK_VERSION = 1
QUANTUM = 0.0005                      # A per int16 step
SPLITS = ("train", "valid", "test")


def pack_path() -> Path | None:
    """The pack named by ``$UNITE_MOL_QM9_PACK``, or ``None`` when it is unset.

    Raises:
        FileNotFoundError: when it is set to a file that does not exist.
    """
    env = os.environ.get(PACK_ENV)
    if not env:
        return None
    path = Path(env)
    if not path.is_file():
        raise FileNotFoundError(f"${PACK_ENV} names {path}, which does not exist")
    return path


def read_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of a pack (only those are decompressed), after checking its version.

    Raises:
        ValueError: for a pack of another version, or one without one of ``keys``.
    """
    with np.load(path, allow_pickle=False) as f:
        version = int(f["version"]) if "version" in f.files else -1
        if version != PACK_VERSION:
            raise ValueError(f"{path}: QM9 pack version {version}, this unite_mol reads version {PACK_VERSION}")
        missing = [k for k in keys if k not in f.files]
        if missing:
            raise ValueError(f"{path} is not a complete QM9 pack: no {missing[0]!r}")
        return {k: f[k] for k in keys}


def load_pack(path: Path, property_columns: Sequence[str]) -> dict[str, np.ndarray]:
    """The processed arrays (as :func:`unite_mol.data.qm9.load_all` returns them) from a pack; the scalar
    properties (``property_columns``) are NaN.

    Raises:
        ValueError: for a pack of another version or with missing arrays.
    """
    a = read_arrays(path, ("gdb_index", "numbers", "positions_q", "quantum", "offsets", "smiles", "inchi"))
    return {"gdb_index": a["gdb_index"].astype(np.int64), "numbers": a["numbers"],
            "positions": a["positions_q"].astype(np.float64) * float(a["quantum"]),
            "offsets": a["offsets"].astype(np.int64), "smiles": a["smiles"], "inchi": a["inchi"],
            "properties": np.full((len(a["gdb_index"]), len(property_columns)), np.nan)}


def pack_bond_labels(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(bond_offsets, bond_rows) of a split from a pack, as :func:`qm9_bond_labels` returns them.

    Raises:
        ValueError: for a pack of another version or without that split's labels.
    """
    keys = (f"bonds_{split}_offsets", f"bonds_{split}_rows")
    a = read_arrays(path, keys)
    return a[keys[0]].astype(np.int64), a[keys[1]].astype(np.int64)
