"""Bond labels of QM9 molecules, for training a decoder's bond head.

QM9's files carry coordinates and a GDB SMILES whose atom order differs from the coordinates', so the
bonds are perceived from the DFT geometry: Open Babel's connectivity and bond orders (the route that
recovers the molecule's own SMILES for 95.1 % of the test split, ``datasets/qm9/README.md``), then
RDKit's aromaticity model marks aromatic bonds (order 4) when the molecule sanitises; otherwise the
kekulé orders are kept. Labels are stored flat, like the coordinates: molecule ``k``'s bonds are rows
``bond_offsets[k]:bond_offsets[k+1]`` of ``bond_rows`` (``i, j, order`` with atom indices local to the
molecule, ``i < j``). Computed once per split (about two minutes for the training split) and cached
under a fingerprint of the split, the method and this module's version.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from unite_mol.data.cache import cache_dir, fingerprint, save_npz_atomic

LABEL_VERSION = 1


def molecule_bonds(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Bond rows (M, 3) ``(i, j, order)`` of one molecule: Open Babel orders, RDKit aromaticity."""
    from rdkit import Chem

    from unite_mol.bonds import rdkit_bond_rows, openbabel_bond_rows, openbabel_obmol
    from unite_mol.molecule import Molecule

    rows, charges = openbabel_bond_rows(openbabel_obmol(numbers, positions))
    if len(rows) == 0:
        return rows
    mol = Molecule(numbers, positions, charges=charges, bonds=rows)
    rd = mol.to_rdkit(sanitize=False)
    try:
        Chem.SanitizeMol(rd)
    except Exception:  # noqa: BLE001  RDKit raises several types; an unsanitisable molecule keeps kekulé orders
        return rows
    rows = rdkit_bond_rows(rd)                                        # aromatic bonds are order 4 after sanitising
    rows[:, :2].sort(axis=1)                                           # i < j
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def compute_labels(numbers: np.ndarray, positions: np.ndarray, offsets: np.ndarray, *,
                   show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(bond_offsets (n + 1,), bond_rows (M, 3)) for flat per-atom arrays of n molecules."""
    from tqdm import tqdm
    from rdkit.rdBase import BlockLogs

    n = len(offsets) - 1
    counts = np.zeros(n, dtype=np.int64)
    parts = []
    with BlockLogs():
        for k in tqdm(range(n), desc="bond labels", unit="mol", disable=not show_progress, mininterval=2.0):
            s, e = offsets[k], offsets[k + 1]
            rows = molecule_bonds(numbers[s:e], positions[s:e])
            counts[k] = len(rows)
            parts.append(rows)
    bond_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return bond_offsets, (np.concatenate(parts) if parts else np.zeros((0, 3), np.int64))


def qm9_bond_labels(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Cached bond labels of a QM9 split (see the module docstring): (bond_offsets, bond_rows)."""
    from unite_mol.data.qm9 import SPLIT_SHA256, qm9
    from unite_mol.data.qm9_pack_read import pack_bond_labels, pack_path

    pack = pack_path()
    if pack is not None:
        return pack_bond_labels(pack, split)
    data = qm9(split)
    key = fingerprint({"split": split, "split_sha256": SPLIT_SHA256, "version": LABEL_VERSION,
                       "method": "openbabel+rdkit-aromaticity", "atoms": int(len(data.numbers))})
    path = cache_dir() / f"qm9-bonds-{split}-{key}.npz"
    if not path.exists():
        t0 = time.time()
        bond_offsets, bond_rows = compute_labels(data.numbers, data.positions, data.offsets)
        save_npz_atomic(path, bond_offsets=bond_offsets, bond_rows=bond_rows)
        print(f"unite_mol: QM9 {split} bond labels in {time.time() - t0:.0f} s, cached at {path}", file=sys.stderr)
    with np.load(path, allow_pickle=False) as f:
        return f["bond_offsets"], f["bond_rows"]


def bond_matrix(bond_offsets: np.ndarray, bond_rows: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
    """Dense symmetric order matrices (B, width, width), int8, for molecules ``rows`` (0 = no bond)."""
    out = np.zeros((len(rows), width, width), dtype=np.int8)
    for b, k in enumerate(rows):
        r = bond_rows[bond_offsets[k]: bond_offsets[k + 1]]
        out[b, r[:, 0], r[:, 1]] = r[:, 2]
        out[b, r[:, 1], r[:, 0]] = r[:, 2]
    return out
