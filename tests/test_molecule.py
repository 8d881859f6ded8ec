"""Molecule: validation errors and exact RDKit / ASE round trips."""

import numpy as np
import pytest

from unite_mol import Molecule


def ethanol() -> Molecule:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    m = Chem.AddHs(Chem.MolFromSmiles("CC[O-]"))
    AllChem.EmbedMolecule(m, randomSeed=1)
    return Molecule.from_rdkit(m)


@pytest.mark.parametrize("numbers,positions,match", [
    ([6, 200], [[0, 0, 0], [1, 0, 0]], "unknown element: atom 1 has atomic number 200"),
    ([6, 0], [[0, 0, 0], [1, 0, 0]], "unknown element: atom 1"),
    ([6, 8], [[0, 0, 0], [np.nan, 0, 0]], r"non-finite coordinates \(NaN or inf\) at atom 1"),
    ([6, 8], [[0, 0, 0], [np.inf, 0, 0]], "non-finite coordinates"),
    ([], np.zeros((0, 3)), "empty molecule"),
    ([6, 8], [[0, 0, 0]], r"positions must have shape \(2, 3\)"),
    ([[6, 8]], [[0, 0, 0], [1, 0, 0]], "1-D array"),
])
def test_bad_input_raises_named_errors(numbers, positions, match):
    with pytest.raises(ValueError, match=match):
        Molecule(np.array(numbers), np.array(positions, dtype=float))


def test_bad_bonds_and_charges():
    z, x = [6, 8], [[0, 0, 0], [1.2, 0, 0]]
    with pytest.raises(ValueError, match="missing atom"):
        Molecule(z, x, bonds=[[0, 5, 1]])
    with pytest.raises(ValueError, match="to itself"):
        Molecule(z, x, bonds=[[1, 1, 1]])
    with pytest.raises(ValueError, match="unknown bond order 7"):
        Molecule(z, x, bonds=[[0, 1, 7]])
    with pytest.raises(ValueError, match="bonded twice"):
        Molecule(z, x, bonds=[[0, 1, 1], [1, 0, 2]])
    with pytest.raises(ValueError, match="charges must have shape"):
        Molecule(z, x, charges=[0])


def test_rdkit_round_trip_keeps_order_coordinates_charges_bonds():
    m = ethanol()
    assert m.formal_charges.sum() == -1
    back = Molecule.from_rdkit(m.to_rdkit())
    assert np.array_equal(back.numbers, m.numbers)
    assert np.array_equal(back.positions, m.positions)
    assert np.array_equal(back.formal_charges, m.formal_charges)
    assert np.array_equal(back.bonds, m.bonds)


def test_from_rdkit_needs_conformer_and_explicit_hydrogens():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    with pytest.raises(ValueError, match="no conformer"):
        Molecule.from_rdkit(Chem.MolFromSmiles("CCO"))
    m = Chem.MolFromSmiles("CCO")
    AllChem.Compute2DCoords(m)
    with pytest.raises(ValueError, match="implicit hydrogens"):
        Molecule.from_rdkit(m)
    assert Molecule.from_rdkit(m, add_hs=True).num_atoms == 9


def test_ase_round_trip():
    m = ethanol()
    back = Molecule.from_ase(m.to_ase())
    assert np.array_equal(back.numbers, m.numbers)
    assert np.array_equal(back.positions, m.positions)
    assert np.array_equal(back.formal_charges, m.formal_charges)


def test_centring_permutation_and_views():
    m = ethanol()
    c = m.centered()
    assert np.abs(c.positions.mean(0)).max() < 1e-12
    assert np.abs(m.centered(weights="mass").center(weights="mass")).max() < 1e-12
    with pytest.raises(ValueError, match="weights must be"):
        m.center(weights="charge")
    perm = np.random.default_rng(0).permutation(m.num_atoms)
    p = m.permuted(perm)
    assert np.array_equal(p.numbers, m.numbers[perm])
    d0, d1 = m.distance_matrix(), p.distance_matrix()
    for i, j, o in p.bonds:                      # bonds follow their atoms
        assert o == {(a, b): k for a, b, k in m.bonds}[tuple(sorted((perm[i], perm[j])))]
        assert d1[i, j] == d0[perm[i], perm[j]]
    assert m.formula == "C2H5O" and m.symbols[:3] == ["C", "C", "O"]
