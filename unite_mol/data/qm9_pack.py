"""A compact, self-contained copy of processed QM9 for machines without the ``qm9pack`` package.

The GPU machines lent to this project reach no package registry, and the processed cache (131 MB) is
larger than what travels there (64 MiB with the repository). :func:`write_pack` stores what training
needs in one compressed ``.npz`` of about 17 MiB: GDB indices, elements, coordinates rounded to
:data:`QUANTUM` (0.0005 A; QM9's largest coordinate is 10.2 A, well inside int16), atom offsets,
SMILES and InChI, and the three splits' bond labels (:mod:`unite_mol.data.bond_labels`). The scalar
properties are left out (NaN after loading): no model here trains on them.

Point ``$UNITE_MOL_QM9_PACK`` at a pack and :func:`unite_mol.data.qm9` and
:func:`unite_mol.data.bond_labels.qm9_bond_labels` read it instead of ``qm9pack`` and the cache; the
split is still checked against the pinned hash. Coordinates differ from the originals by at most
``QUANTUM / 2`` (0.00025 A, a hundredth of the shipped model's reconstruction RMSD).

Usage (here, then carry the file)::

    python -m unite_mol.data.qm9_pack runs/gpu/qm9-pack.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from unite_mol.data.qm9_pack_read import (PACK_ENV, PACK_VERSION, QUANTUM, SPLITS, load_pack,  # noqa: F401 (public here)
                                          pack_bond_labels, pack_path)


def write_pack(path: str | Path) -> Path:
    """Write the pack of the processed QM9 data (needs ``qm9pack``, or a pack already, and the bond labels)."""
    from unite_mol.data.bond_labels import qm9_bond_labels
    from unite_mol.data.qm9 import load_all
    from unite_mol.files import atomic_open

    data = load_all()
    pos = np.asarray(data["positions"], dtype=np.float64)
    q = np.rint(pos / QUANTUM)
    if np.abs(q).max() > np.iinfo(np.int16).max:
        raise ValueError(f"a coordinate of {np.abs(pos).max():.2f} A does not fit the pack's int16 grid")
    arrays = {"version": np.array(PACK_VERSION), "quantum": np.array(QUANTUM),
              "gdb_index": data["gdb_index"].astype(np.int32), "numbers": data["numbers"].astype(np.int8),
              "positions_q": q.astype(np.int16), "offsets": data["offsets"].astype(np.int32),
              "smiles": data["smiles"], "inchi": data["inchi"]}
    for split in SPLITS:
        bond_offsets, bond_rows = qm9_bond_labels(split)
        if len(bond_rows) and int(np.max(bond_rows)) > np.iinfo(np.uint8).max:
            raise ValueError(f"bond labels of {split} do not fit uint8")
        arrays[f"bonds_{split}_offsets"] = bond_offsets.astype(np.int32)
        arrays[f"bonds_{split}_rows"] = bond_rows.astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        np.savez_compressed(fh, **arrays)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m unite_mol.data.qm9_pack OUT.npz", file=sys.stderr)
        return 2
    out = write_pack(args[0])
    print(f"QM9 pack written: {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
