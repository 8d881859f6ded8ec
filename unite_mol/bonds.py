"""Bond perception from 3D coordinates (EDM's distance rule, RDKit, Open Babel) and kekulé orders.

Three methods, one call, :func:`perceive_bonds`:

``"edm"``
    The rule of EDM (Hoogeboom et al., ICML 2022, "Equivariant Diffusion for Molecule Generation in 3D")
    and the field's stability metric after it: a pair of atoms is bonded when its distance is below a
    tabulated typical bond length plus a margin; triple is tested first, then double, then single.
    Lengths are in picometres (pm) as published; margins are 10 pm (single), 5 pm (double) and 3 pm
    (triple), the values EDM tuned so that the QM9 data itself scores high. Element pairs absent from the
    tables never bond. No charges are assigned. The tables are the evaluator's and live beside it, in
    :mod:`unite_mol.metrics.edm_tables`; this module reads them only when ``"edm"`` is asked for, on finished
    molecules (nothing that samples or trains reads them).
``"rdkit"``
    ``rdkit.Chem.rdDetermineBonds``: connectivity from covalent radii, then bond orders and formal charges
    (the xyz2mol algorithm). When the orders cannot be assigned the molecule keeps single bonds for the
    connectivity and ``properties["bond_perception"]`` says so, with RDKit's message.
``"openbabel"``
    Open Babel's ``ConnectTheDots`` and ``PerceiveBondOrders`` on an ``OBMol`` built atom by atom (atom
    order is kept), the route of ADiT's evaluation.

All methods report kekulé orders 1, 2 and 3 (never 4 = aromatic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:   # annotations only: Molecule.with_bonds calls this module
    from unite_mol.molecule import Molecule

METHODS = ("edm", "rdkit", "openbabel")


def bonds_from_matrix(orders: np.ndarray) -> np.ndarray:
    """``(M, 3)`` rows ``(i, j, order)`` with ``i < j`` from a symmetric order matrix."""
    i, j = np.nonzero(np.triu(orders, k=1))
    return np.stack([i, j, orders[i, j]], axis=1).astype(np.int64).reshape(-1, 3)


# ---------------------------------------------------------------------------------------- perception
def perceive_bonds(mol: Molecule, method: str = "edm", *, charge: int = 0) -> Molecule:
    """A copy of ``mol`` with bonds perceived from its coordinates (existing bonds are ignored).

    Args:
        mol: the molecule; atom order is kept.
        method: ``"edm"``, ``"rdkit"`` or ``"openbabel"`` (see the module docstring).
        charge: total charge, passed to RDKit's and Open Babel's bond-order assignment (EDM ignores it).

    Returns:
        ``mol.replace(bonds=...)`` with kekulé orders 1/2/3. RDKit and Open Babel also set formal
        charges; ``properties["bond_perception"]`` records the method and, for RDKit, whether it fell back
        to connectivity only (``"rdkit:connectivity-only: <RDKit message>"``).

    Raises:
        ValueError: for an unknown method.
    """
    if method == "edm":
        from unite_mol.metrics.edm_tables import edm_bond_orders

        orders = edm_bond_orders(mol.numbers, mol.positions)
        props = dict(mol.properties, bond_perception="edm")
        return mol.replace(bonds=bonds_from_matrix(orders), properties=props)
    if method == "rdkit":
        bonds, charges, note = _rdkit_bonds(mol, charge)
        props = dict(mol.properties, bond_perception=note)
        return mol.replace(bonds=bonds, charges=charges, properties=props)
    if method == "openbabel":
        bonds, charges = _openbabel_bonds(mol, charge)
        props = dict(mol.properties, bond_perception="openbabel")
        return mol.replace(bonds=bonds, charges=charges, properties=props)
    raise ValueError(f"unknown bond perception method {method!r}; choose one of {', '.join(METHODS)}")


def _bare_rdkit(mol: Molecule) -> Any:
    """RDKit molecule with atoms and the conformer only (no bonds, no charges)."""
    return mol.replace(bonds=None, charges=None).to_rdkit(sanitize=False)


def _rdkit_bonds(mol: Molecule, charge: int) -> tuple[np.ndarray, np.ndarray, str]:
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds
    from rdkit.rdBase import BlockLogs

    rd = _bare_rdkit(mol)
    with BlockLogs():
        rdDetermineBonds.DetermineConnectivity(rd, charge=charge)
        note = "rdkit"
        try:
            trial = Chem.Mol(rd)
            rdDetermineBonds.DetermineBondOrders(trial, charge=charge, embedChiral=False)
            Chem.Kekulize(trial, clearAromaticFlags=True)
            rd = trial
        except (ValueError, RuntimeError) as exc:  # RDKit raises these when orders cannot be assigned
            note = f"rdkit:connectivity-only: {type(exc).__name__}: {exc}"
    return rdkit_bond_rows(rd), np.array([a.GetFormalCharge() for a in rd.GetAtoms()], np.int64), note


def rdkit_bond_rows(rd: Any) -> np.ndarray:
    from rdkit import Chem

    codes = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3,
             Chem.BondType.AROMATIC: 4}
    rows = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), codes.get(b.GetBondType(), 1)) for b in rd.GetBonds()]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def openbabel_obmol(numbers: np.ndarray, positions: np.ndarray, charge: int = 0, *, perceive: bool = True) -> Any:
    """An ``openbabel.OBMol`` with the given atoms (in order) and, when ``perceive``, its bonds.

    Bonds come from ``ConnectTheDots`` then ``PerceiveBondOrders``, what Open Babel does when it reads a
    PDB or XYZ file without connectivity.
    """
    from openbabel import openbabel as ob

    obm = ob.OBMol()
    obm.BeginModify()
    for z, (x, y, w) in zip(np.asarray(numbers).tolist(), np.asarray(positions, dtype=float).tolist()):
        atom = obm.NewAtom()
        atom.SetAtomicNum(int(z))
        atom.SetVector(x, y, w)
    obm.EndModify()
    obm.SetTotalCharge(int(charge))
    if perceive:
        level = ob.obErrorLog.GetOutputLevel()
        ob.obErrorLog.SetOutputLevel(0)
        try:
            obm.ConnectTheDots()
            obm.PerceiveBondOrders()
        finally:
            ob.obErrorLog.SetOutputLevel(level)
    return obm


def openbabel_bond_rows(obm: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kekulé bond rows (0-based) and formal charges of an ``OBMol``."""
    from openbabel import openbabel as ob

    rows = []
    for bond in ob.OBMolBondIter(obm):
        order = bond.GetBondOrder()
        rows.append((bond.GetBeginAtomIdx() - 1, bond.GetEndAtomIdx() - 1, order if order in (1, 2, 3) else 1))
    charges = np.array([a.GetFormalCharge() for a in ob.OBMolAtomIter(obm)], np.int64)
    return np.array(rows, dtype=np.int64).reshape(-1, 3), charges


def _openbabel_bonds(mol: Molecule, charge: int) -> tuple[np.ndarray, np.ndarray]:
    obm = openbabel_obmol(mol.numbers, mol.positions, charge)
    assert obm.NumAtoms() == mol.num_atoms, "Open Babel changed the atom count"
    return openbabel_bond_rows(obm)


# ------------------------------------------------------------------------------------------- kekulé
#: the most search steps :func:`kekule_orders` spends on one aromatic system: it then takes the best matching
#: found so far, or none (a bound for large, dense systems without a perfect matching, where the search grows
#: as a double factorial; real rings need a few dozen steps)
KEKULE_SEARCH_LIMIT = 20_000


def kekule_orders(orders: np.ndarray, valences: np.ndarray, distances: np.ndarray | None = None) -> np.ndarray:
    """A kekulé structure of a bond graph with aromatic bonds: each aromatic bond becomes single or double so
    that every atom gets its valence.

    Each connected system of aromatic bonds is solved on its own: an atom needs ``valence - (its non-aromatic
    orders) - (its aromatic bond count)`` double bonds among its aromatic bonds; where that is 0 or 1 for
    every atom of the system, the doubles form a perfect matching of the atoms that need one, along aromatic
    bonds. Of the matchings, the one whose double bonds are shortest in ``distances`` (summed) is taken
    (without ``distances``: the first found; at most :data:`KEKULE_SEARCH_LIMIT` search steps per system).
    A system with no such matching (an atom needing 2 or a negative number, an odd ring of atoms needing one,
    or none found within the search limit) keeps its aromatic bonds.

    Args:
        orders: ``(N, N)`` symmetric integer orders, 0 none, 1-3, 4 aromatic.
        valences: ``(N,)`` the valence each atom should have.
        distances: optional ``(N, N)`` interatomic distances.

    Returns:
        A copy of ``orders`` with the aromatic bonds of each solvable system replaced by 1 or 2.
    """
    orders = np.asarray(orders)
    out = orders.copy()
    arom = orders == 4
    if not arom.any():
        return out
    n = len(orders)
    need = np.asarray(valences).round().astype(np.int64) - np.where(arom, 0, orders).sum(1) - arom.sum(1)
    cost = np.zeros((n, n)) if distances is None else np.asarray(distances, dtype=np.float64)
    seen = np.zeros(n, dtype=bool)
    for start in np.flatnonzero(arom.any(1)):
        if seen[start]:
            continue
        system, stack = [], [int(start)]
        seen[start] = True
        while stack:
            a = stack.pop()
            system.append(a)
            for b in np.flatnonzero(arom[a] & ~seen):
                seen[b] = True
                stack.append(int(b))
        doubles = _cheapest_matching(system, need, arom, cost)
        if doubles is None:
            continue
        for a in system:
            for b in np.flatnonzero(arom[a]):
                out[a, b] = 1
        for a, b in doubles:
            out[a, b] = out[b, a] = 2
    return out


def _cheapest_matching(system: list[int], need: np.ndarray, arom: np.ndarray, cost: np.ndarray
                       ) -> list[tuple[int, int]] | None:
    """Pairs of aromatic neighbours covering each atom of ``system`` with ``need`` 1 exactly once (and no atom
    with ``need`` 0), of least summed ``cost``; ``None`` when there is none."""
    if any(need[a] not in (0, 1) for a in system):
        return None
    open_ = sorted(a for a in system if need[a] == 1)
    if len(open_) % 2:
        return None
    best: list = [None, np.inf]
    tried = [0]

    def search(free: frozenset, chosen: list, total: float) -> None:
        tried[0] += 1
        if tried[0] > KEKULE_SEARCH_LIMIT or total >= best[1]:
            return
        if not free:
            best[0], best[1] = list(chosen), total
            return
        a = min(free)
        for b in np.flatnonzero(arom[a]):
            b = int(b)
            if b in free and b != a:
                chosen.append((a, b))
                search(free - {a, b}, chosen, total + cost[a, b])
                chosen.pop()

    search(frozenset(open_), [], 0.0)
    return best[0]
