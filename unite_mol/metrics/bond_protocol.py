"""The ``bonds`` protocol: score the bonds a model predicted, with no perception from the coordinates.

A model that generates bonds (``Molecule.bonds``, rows ``(i, j, order)`` with order 4 = aromatic) should
be judged on those bonds, not on bonds re-perceived from its coordinates. :func:`unite_mol.metrics.evaluate`
reports this protocol under ``bonds/...`` (never mixed into ``edm/...``) when ``"bonds"`` is in its
``protocols``; it is opt-in, since most molecules carry no bonds. A molecule with ``bonds=None`` is a
recorded failure ("no bonds"), not a crash.

Stability (after Nikitin, Dunn, Koes and Isayev 2025, "GEOM-Drugs Revisited", which fixed MiDi's
stability check: MiDi stored the aromatic order 1.5 in an integer tensor, so every aromatic bond counted
as 1 and a benzene carbon summed to 3):

* an atom's **valence** is the sum of its bond orders with an aromatic bond counting **1.5**; the sum is
  rounded only after summing (aromatic C with two aromatic bonds and one C-H: 1.5 + 1.5 + 1 = 4; pyridine
  N: 1.5 + 1.5 = 3);
* the atom is **stable** when that valence is a whole number and an allowed valence of its element at its
  formal charge (:data:`VALENCES`);
* **Kekulé readings** (our addition, the rule Nikitin et al.'s published code encodes with its
  "(aromatic bonds, other valence)" table): an atom with ``k >= 2`` aromatic bonds is also stable when
  ``k + v`` or ``k + v + 1`` is allowed, ``v`` being the valence of its other bonds, i.e. when its
  aromatic bonds read as all single (a pi donor: pyrrole N-H, furan O, thiophene S, which the 1.5 sum
  puts at 4, 3 and 3) or as one double and the rest single (a ring-fusion carbon of naphthalene, 4.5 by
  the 1.5 sum). An atom with a single aromatic bond (no ring) gets no such reading: its half-integer
  valence is never stable (MiDi's CH3-(aromatic)-CH3 example is unstable, as it should be).

``atom_stability`` is the fraction of all atoms that are stable (atoms of molecules without bonds count as
unstable); ``mol_stability`` the fraction of molecules whose atoms are all stable.

Validity, connectivity, uniqueness and novelty are those of the ``edm`` protocol applied to the given bonds:
the RDKit molecule is built from atoms, formal charges and bonds (:meth:`Molecule.to_rdkit`: aromatic bonds
as RDKit aromatic bonds, their atoms marked aromatic, no implicit hydrogens) and sanitised as a whole;
``connected`` requires one fragment; the largest fragment's canonical SMILES serves uniqueness and novelty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unite_mol.molecule import AROMATIC, Molecule

AROMATIC_ORDER = 1.5  # what an aromatic bond adds to an atom's valence

# Allowed valences (summed bond orders) by element and formal charge. Charged entries follow the octet
# rule of the isoelectronic neutral atom (N+ like C, O+ like N, S+ like P, ...).
VALENCES: dict[str, dict[int, tuple[int, ...]]] = {
    "H": {0: (1,)},
    "C": {0: (4,), -1: (3,), 1: (3,)},
    "N": {0: (3,), 1: (4,), -1: (2,)},
    "O": {0: (2,), 1: (3,), -1: (1,)},
    "F": {0: (1,)},
    "P": {0: (3, 5), 1: (4,)},
    "S": {0: (2, 4, 6), 1: (3,), -1: (1,)},
    "Cl": {0: (1,)},
    "Br": {0: (1,)},
    "I": {0: (1,)},
}


def allowed_valences(symbol: str, charge: int = 0) -> tuple[int, ...]:
    """Allowed valences of ``symbol`` at formal ``charge``; empty when the table has none."""
    return VALENCES.get(symbol, {}).get(int(charge), ())


def valences(mol: Molecule) -> tuple[np.ndarray, np.ndarray]:
    """Per-atom ``(valence, aromatic bond count)``; the valence counts an aromatic bond as 1.5.

    Raises:
        ValueError: if the molecule carries no bonds (``bonds is None``).
    """
    if mol.bonds is None:
        raise ValueError(f"{mol!r} carries no bonds: generate with bonds or call .with_bonds(...) first")
    valence = np.zeros(mol.num_atoms)
    n_aromatic = np.zeros(mol.num_atoms, np.int64)
    aromatic = mol.bonds[:, 2] == AROMATIC
    contribution = np.where(aromatic, AROMATIC_ORDER, mol.bonds[:, 2].astype(float))
    for col in (0, 1):
        np.add.at(valence, mol.bonds[:, col], contribution)
        np.add.at(n_aromatic, mol.bonds[:, col], aromatic.astype(np.int64))
    return valence, n_aromatic


def atom_stability(mol: Molecule) -> tuple[np.ndarray, np.ndarray]:
    """Per-atom ``(valence, stable)`` under the rule of the module docstring.

    Raises:
        ValueError: if the molecule carries no bonds.
    """
    valence, n_aromatic = valences(mol)
    rounded = np.rint(valence)                        # round once, after summing
    whole = np.abs(valence - rounded) < 1e-6          # half-integers (odd aromatic counts) are no valence
    other = valence - AROMATIC_ORDER * n_aromatic     # valence of the non-aromatic bonds (a whole number)
    stable = np.zeros(mol.num_atoms, dtype=bool)
    for a, (symbol, q) in enumerate(zip(mol.symbols, mol.formal_charges)):
        allowed = allowed_valences(symbol, int(q))
        ok = bool(whole[a]) and int(rounded[a]) in allowed
        k = int(n_aromatic[a])
        if not ok and k >= 2:                         # Kekulé readings: aromatic bonds all single, or one double
            v = int(round(other[a]))
            ok = (k + v) in allowed or (k + v + 1) in allowed
        stable[a] = ok
    return valence, stable


def stability_row(mol: Molecule) -> dict[str, Any]:
    """One molecule's stability under the ``bonds`` protocol, for :func:`unite_mol.metrics.evaluate`.

    Returns:
        ``{"mol_stable", "stable_atoms", "reason"}``; a molecule without bonds has no stable atom and the
        reason ``"bonds: no bonds ..."``.
    """
    if mol.bonds is None:
        return {"mol_stable": False, "stable_atoms": 0,
                "reason": "bonds: no bonds (the molecule carries none; generate with bonds or call .with_bonds)"}
    valence, stable = atom_stability(mol)
    reason = ""
    if not stable.all():
        q = mol.formal_charges
        bad = [f"{mol.symbols[a]}{a}(valence {valence[a]:g}{f', charge {int(q[a]):+d}' if q[a] else ''})"
               for a in np.flatnonzero(~stable)[:4]]
        missing = sorted({f"{s}{int(c):+d}" if c else s for s, c in zip(mol.symbols, q) if not allowed_valences(s, c)})
        reason = "bonds: unstable atoms " + ", ".join(bad) + (f"; no valence table for {missing}" if missing else "")
    return {"mol_stable": bool(stable.all()), "stable_atoms": int(stable.sum()), "reason": reason}
