"""Bond perception: EDM tables, RDKit and Open Babel recover known bond orders from ETKDG geometries."""

from __future__ import annotations

import numpy as np
import pytest

from unite_mol.bonds import METHODS, kekule_orders, perceive_bonds
from unite_mol.metrics.edm_tables import DOUBLE_PM, SINGLE_PM, TRIPLE_PM, edm_bond_orders
from unite_mol.molecule import Molecule


def _embedded(smiles: str, seed: int = 0) -> Molecule:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(rd, randomSeed=seed) == 0
    AllChem.MMFFOptimizeMolecule(rd)
    return Molecule.from_rdkit(rd, kekulize=True)


def _heavy_orders(mol: Molecule) -> list[int]:
    """Sorted orders of bonds between heavy atoms."""
    heavy = mol.numbers > 1
    return sorted(int(o) for i, j, o in mol.bonds if heavy[i] and heavy[j])


CASES = [("c1ccccc1", [1, 1, 1, 2, 2, 2], 12), ("CCO", [1, 1], 8), ("C#C", [3], 3), ("CC(C)=O", [1, 1, 2], 9)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("smiles,heavy,n_bonds", CASES)
def test_known_orders(method: str, smiles: str, heavy: list[int], n_bonds: int) -> None:
    if method == "edm" and smiles == "c1ccccc1":
        pytest.skip("EDM's tables put aromatic C-C (1.39-1.40 A) at the single/double border; see next test")
    mol = _embedded(smiles)
    out = perceive_bonds(mol, method)
    assert _heavy_orders(out) == heavy
    assert len(out.bonds) == n_bonds
    assert set(out.bonds[:, 2].tolist()) <= {1, 2, 3}
    np.testing.assert_array_equal(out.numbers, mol.numbers)  # atom order kept
    assert out.properties["bond_perception"] == method


@pytest.mark.parametrize("method", METHODS)
def test_bonds_follow_atoms_when_permuted(method: str) -> None:
    mol = _embedded("CC(=O)N")
    order = np.random.default_rng(0).permutation(mol.num_atoms)
    a = perceive_bonds(mol, method).permuted(order)
    b = perceive_bonds(mol.permuted(order), method)
    np.testing.assert_array_equal(a.bonds, b.bonds)


def test_edm_benzene_is_all_single_or_kekule() -> None:
    # The published EDM rule, not a chemist's: aromatic bonds land on either side of the 139 pm border.
    out = perceive_bonds(_embedded("c1ccccc1"), "edm")
    assert set(_heavy_orders(out)) <= {1, 2} and len(_heavy_orders(out)) == 6


def test_unknown_method() -> None:
    mol = _embedded("C")
    with pytest.raises(ValueError, match="edm, rdkit, openbabel"):
        perceive_bonds(mol, "xyz2mol")


def test_tables_consistent_and_nested() -> None:
    for table in (SINGLE_PM, DOUBLE_PM, TRIPLE_PM):
        keys = {frozenset(k) for k in table}
        assert len(keys) == len(table), "a pair is written twice"
    single = {frozenset(k): v for k, v in SINGLE_PM.items()}
    double = {frozenset(k): v for k, v in DOUBLE_PM.items()}
    for pair, r2 in DOUBLE_PM.items():
        assert r2 + 5 < single[frozenset(pair)] + 10
    for pair, r3 in TRIPLE_PM.items():
        assert r3 + 3 < double[frozenset(pair)] + 5


def test_edm_thresholds_exact() -> None:
    # C-C: single below 164 pm, double below 139 pm, triple below 123 pm.
    z = np.array([6, 6])
    for d, order in [(1.22, 3), (1.24, 2), (1.38, 2), (1.40, 1), (1.63, 1), (1.65, 0)]:
        pos = np.array([[0.0, 0, 0], [d, 0, 0]])
        assert edm_bond_orders(z, pos)[0, 1] == order, d
    # H-F has only a single length; Ne-C is not in the table at all.
    assert edm_bond_orders(np.array([1, 9]), np.array([[0.0, 0, 0], [0.5, 0, 0]]))[0, 1] == 1
    assert edm_bond_orders(np.array([10, 6]), np.array([[0.0, 0, 0], [1.0, 0, 0]]))[0, 1] == 0


def test_edm_nan_and_shapes() -> None:
    pos = np.array([[0.0, 0, 0], [np.nan, 0, 0], [1.0, 0, 0]])
    orders = edm_bond_orders(np.array([6, 6, 1]), pos)
    assert orders[0, 1] == 0 and orders[0, 2] == 1
    assert edm_bond_orders(np.zeros(0, int), np.zeros((0, 3))).shape == (0, 0)
    with pytest.raises(ValueError):
        edm_bond_orders(np.array([6, 6]), np.zeros((3, 3)))


# ------------------------------------------------------------------------------------------- kekulé
def graph(n: int, bonds: list[tuple[int, int, int]]) -> np.ndarray:
    orders = np.zeros((n, n), dtype=np.int64)
    for i, j, o in bonds:
        orders[i, j] = orders[j, i] = o
    return orders


def valences(numbers: list[int]) -> np.ndarray:
    return np.array([{1: 1, 6: 4, 7: 3, 8: 2}[z] for z in numbers])


def assert_kekule(orders: np.ndarray, kek: np.ndarray, want: np.ndarray) -> None:
    """Only aromatic bonds changed, each to 1 or 2, and every atom has its valence."""
    assert ((kek == orders) | (orders == 4)).all() and np.isin(kek[orders == 4], (1, 2)).all()
    assert (kek == kek.T).all() and (kek.sum(1) == want).all()


def test_kekule_orders_of_aromatic_rings():
    benzene = graph(12, [(k, (k + 1) % 6, 4) for k in range(6)] + [(k, k + 6, 1) for k in range(6)])
    want = valences([6] * 6 + [1] * 6)
    kek = kekule_orders(benzene, want)
    assert_kekule(benzene, kek, want)
    assert sorted((kek[:6, :6] == 2).sum(1).tolist()) == [1] * 6
    # furan (O, four CH): the oxygen's ring bonds stay single, C2=C3 and C4=C5
    furan = graph(9, [(k, (k + 1) % 5, 4) for k in range(5)] + [(k, k + 4, 1) for k in range(1, 5)])
    want = valences([8, 6, 6, 6, 6, 1, 1, 1, 1])
    kek = kekule_orders(furan, want)
    assert_kekule(furan, kek, want)
    assert kek[0, 1] == kek[0, 4] == 1 and kek[1, 2] == kek[3, 4] == 2
    # pyrrole's N-H nitrogen (aromatic bonds 1.5 would give it 4) and pyridine's nitrogen
    pyrrole = graph(10, [(k, (k + 1) % 5, 4) for k in range(5)] + [(k, k + 5, 1) for k in range(5)])
    want = valences([7, 6, 6, 6, 6, 1, 1, 1, 1, 1])
    assert_kekule(pyrrole, kekule_orders(pyrrole, want), want)
    pyridine = graph(11, [(k, (k + 1) % 6, 4) for k in range(6)] + [(k, k + 5, 1) for k in range(1, 6)])
    want = valences([7, 6, 6, 6, 6, 6, 1, 1, 1, 1, 1])
    assert_kekule(pyridine, kekule_orders(pyridine, want), want)
    # naphthalene: the two fused carbons have three aromatic bonds each
    ring = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 9), (9, 0), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
    hs = [(k, 10 + r, 1) for r, k in enumerate([0, 1, 2, 3, 5, 6, 7, 8])]
    naph = graph(18, [(i, j, 4) for i, j in ring] + hs)
    want = valences([6] * 10 + [1] * 8)
    assert_kekule(naph, kekule_orders(naph, want), want)


def test_kekule_orders_pick_the_shortest_doubles():
    benzene = graph(6, [(k, (k + 1) % 6, 4) for k in range(6)])
    want = np.full(6, 3)        # each ring carbon wants one double bond among its two ring bonds
    for phase in (0, 1):
        dist = np.full((6, 6), 1.40)
        for k in range(phase, 6, 2):
            dist[k, (k + 1) % 6] = dist[(k + 1) % 6, k] = 1.34
        kek = kekule_orders(benzene, want, dist)
        assert all(kek[k, (k + 1) % 6] == (2 if (k - phase) % 2 == 0 else 1) for k in range(6))


def test_kekule_orders_leave_what_has_no_kekule_structure():
    # cyclopentadienyl (five CH, aromatic): five atoms each wanting one double bond cannot pair up
    cp = graph(10, [(k, (k + 1) % 5, 4) for k in range(5)] + [(k, k + 5, 1) for k in range(5)])
    want = valences([6] * 5 + [1] * 5)
    assert (kekule_orders(cp, want) == cp).all()
    # a bare aromatic carbon pair wanting two doubles each; beside it a solvable ring is still solved
    pair = graph(2, [(0, 1, 4)])
    assert (kekule_orders(pair, np.array([4, 4])) == pair).all()
    both = np.zeros((8, 8), dtype=np.int64)
    both[:2, :2] = pair
    both[2:, 2:] = graph(6, [(k, (k + 1) % 6, 4) for k in range(6)])
    kek = kekule_orders(both, np.array([4, 4] + [3] * 6))
    assert (kek[:2, :2] == pair).all() and (kek[2:, 2:] == 2).sum() == 6
    # no aromatic bond: an unchanged copy
    methane = graph(5, [(0, k, 1) for k in range(1, 5)])
    out = kekule_orders(methane, valences([6, 1, 1, 1, 1]))
    assert (out == methane).all() and out is not methane


def test_kekule_search_is_bounded_on_dense_systems_without_a_structure():
    import time

    # two aromatic 21-cliques joined through one atom that needs no double bond: 42 atoms needing one each (even),
    # but each clique is odd, so there is no perfect matching; unbounded, the search would take 20!! steps
    n = 43
    orders = np.zeros((n, n), dtype=np.int64)
    for block in (range(0, 21), range(21, 42)):
        for i in block:
            for j in block:
                if i != j:
                    orders[i, j] = 4
    orders[0, 42] = orders[42, 0] = orders[21, 42] = orders[42, 21] = 4
    want = orders.astype(bool).sum(1) + 1
    want[42] = 2                                     # its two aromatic bonds single
    t = time.perf_counter()
    out = kekule_orders(orders, want)
    assert time.perf_counter() - t < 5.0 and (out == orders).all()
