"""EDM's evaluation tables: bond lengths, margins and allowed valences, and the distance rule that reads them.

These are the judge's tables (STYLE point 20): EDM's stability metric (Hoogeboom et al., ICML 2022,
"Equivariant Diffusion for Molecule Generation in 3D") and the ``edm/...`` protocol of
:func:`unite_mol.metrics.evaluate` score with them. Nothing that samples or trains reads them
(``tests/test_evaluator_independence.py`` walks the imports); a user who asks for ``bonds="edm"`` on finished
molecules gets them through :func:`unite_mol.bonds.perceive_bonds`, after the coordinates are made.

The rule: a pair of atoms is bonded when its distance is below a tabulated typical bond length plus a margin;
triple is tested first, then double, then single. Lengths are in picometres (pm) as published; margins are
10 pm (single), 5 pm (double) and 3 pm (triple), the values EDM tuned so that the QM9 data itself scores high.
Element pairs absent from the tables never bond. No charges are assigned.

Source: the bond-length tables (single, double, triple, pm), margins and allowed valences published with EDM's
evaluation (github.com/ehoogeboom/e3_diffusion_for_molecules, ``qm9/bond_analyze.py``; lengths there cite
wiredchemist.com and chemistry-reference.com tables). The numbers were written in by hand from that
publication into the symmetric form used here.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from unite_mol import elements

# --------------------------------------------------------------------------------------------- tables
# Typical bond lengths in pm; each unordered element pair is written once.
SINGLE_PM: dict[tuple[str, str], int] = {
    ("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92, ("H", "B"): 119,
    ("H", "Si"): 148, ("H", "P"): 144, ("H", "As"): 152, ("H", "S"): 134, ("H", "Cl"): 127,
    ("H", "Br"): 141, ("H", "I"): 161,
    ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135, ("C", "Si"): 185, ("C", "P"): 184,
    ("C", "S"): 182, ("C", "Cl"): 177, ("C", "Br"): 194, ("C", "I"): 214,
    ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136, ("N", "Cl"): 175, ("N", "Br"): 214, ("N", "S"): 168,
    ("N", "I"): 222, ("N", "P"): 177,
    ("O", "O"): 148, ("O", "F"): 142, ("O", "Br"): 172, ("O", "S"): 151, ("O", "P"): 163, ("O", "Si"): 163,
    ("O", "Cl"): 164, ("O", "I"): 194,
    ("F", "F"): 142, ("F", "S"): 158, ("F", "Si"): 160, ("F", "Cl"): 166, ("F", "Br"): 178, ("F", "P"): 156,
    ("F", "I"): 187,
    ("B", "Cl"): 175,
    ("Si", "Si"): 233, ("Si", "S"): 200, ("Si", "Cl"): 202, ("Si", "Br"): 215, ("Si", "I"): 243,
    ("Cl", "Cl"): 199, ("Cl", "P"): 203, ("Cl", "S"): 207, ("Cl", "Br"): 214,
    ("S", "S"): 204, ("S", "Br"): 225, ("S", "P"): 210, ("S", "I"): 234,
    ("Br", "Br"): 228, ("Br", "P"): 222,
    ("P", "P"): 221,
    ("I", "I"): 266,
}
DOUBLE_PM: dict[tuple[str, str], int] = {
    ("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("C", "S"): 160,
    ("N", "N"): 125, ("N", "O"): 121,
    ("O", "O"): 121, ("O", "P"): 150,
    ("P", "S"): 186,
}
TRIPLE_PM: dict[tuple[str, str], int] = {
    ("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113,
    ("N", "N"): 110,
}
MARGINS_PM: tuple[int, int, int] = (10, 5, 3)  # single, double, triple

# Allowed valences (summed bond orders) of a neutral atom in EDM's stability check.
ALLOWED_VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,), "Si": (4,), "P": (3, 5),
    "S": (4,), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,), "Hg": (1, 2), "Bi": (3, 5),
}


def _threshold_matrix(table: Mapping[tuple[str, str], int], margin: int) -> np.ndarray:
    """``(MAX_Z+1, MAX_Z+1)`` thresholds in pm (length + margin); ``-inf`` where the pair is absent."""
    out = np.full((elements.MAX_Z + 1, elements.MAX_Z + 1), -np.inf)
    for (a, b), length in table.items():
        za, zb = elements.atomic_number(a), elements.atomic_number(b)
        out[za, zb] = out[zb, za] = length + margin
    return out


_THRESHOLDS: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _thresholds() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    global _THRESHOLDS
    if _THRESHOLDS is None:
        m1, m2, m3 = MARGINS_PM
        _THRESHOLDS = (_threshold_matrix(SINGLE_PM, m1), _threshold_matrix(DOUBLE_PM, m2),
                       _threshold_matrix(TRIPLE_PM, m3))
    return _THRESHOLDS


def edm_thresholds(numbers: Sequence[int]) -> np.ndarray:
    """EDM's distance thresholds (table length + margin) between the given elements, in Angstrom.

    Args:
        numbers: atomic numbers ``(V,)``, e.g. a model's element vocabulary.

    Returns:
        ``(3, V, V)`` float64: single, double and triple thresholds; ``-inf`` where the table has no such bond.
    """
    z = np.asarray(numbers, dtype=np.int64).reshape(-1)
    return np.stack([t[z[:, None], z[None, :]] for t in _thresholds()]) / 100.0


def allowed_valence_table() -> dict[int, tuple[int, ...]]:
    """Allowed valences keyed by atomic number (elements absent have no allowed valence)."""
    return {elements.atomic_number(s): v for s, v in ALLOWED_VALENCES.items()}


# ------------------------------------------------------------------------------------------ EDM rule
def edm_bond_orders(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Bond orders from interatomic distances with the EDM tables.

    For each pair at distance ``d`` (in pm): 3 if ``d < r3 + 3``, else 2 if ``d < r2 + 5``, else 1 if
    ``d < r1 + 10``, else 0; pairs absent from a table never get that order. The table lengths are
    nested (``r3 + 3 < r2 + 5 < r1 + 10``), so this equals EDM's nested test.

    Args:
        numbers: atomic numbers, shape ``(N,)``.
        positions: coordinates in Angstrom, shape ``(N, 3)``.

    Returns:
        A symmetric ``(N, N)`` ``int64`` matrix with a zero diagonal. Non-finite distances (NaN
        coordinates) give no bond.

    Raises:
        ValueError: on mismatched shapes or atomic numbers outside ``1..118``.
    """
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    positions = np.asarray(positions, dtype=np.float64)
    n = numbers.size
    if positions.shape != (n, 3):
        raise ValueError(f"positions must have shape ({n}, 3) for {n} atoms, got {positions.shape}")
    if n and ((numbers < 1) | (numbers > elements.MAX_Z)).any():
        raise ValueError(f"atomic numbers must be in 1..{elements.MAX_Z}, got {numbers.tolist()}")
    diff = positions[:, None, :] - positions[None, :, :]
    d_pm = 100.0 * np.sqrt((diff * diff).sum(-1))  # same scaling as the published rule (Angstrom * 100)
    t1, t2, t3 = (t[numbers[:, None], numbers[None, :]] for t in _thresholds())
    with np.errstate(invalid="ignore"):
        orders = np.where(d_pm < t3, 3, np.where(d_pm < t2, 2, np.where(d_pm < t1, 1, 0)))
    np.fill_diagonal(orders, 0)
    return orders.astype(np.int64)
