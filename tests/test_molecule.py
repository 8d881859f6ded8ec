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


def test_bonds_are_normalised_and_none_differs_from_empty():
    z, x = [6, 6, 8], [[0, 0, 0], [1.5, 0, 0], [2.2, 1.0, 0]]
    m = Molecule(z, x, bonds=[[2, 1, 1], [1, 0, 2]])
    assert m.bonds.tolist() == [[0, 1, 2], [1, 2, 1]]  # i < j, sorted
    assert Molecule(z, x).bonds is None
    assert Molecule(z, x, bonds=[]).bonds.shape == (0, 3)
    with pytest.raises(ValueError, match="integers"):
        Molecule(z, x, charges=[0.5, 0, 0])
    assert Molecule(np.array([6.0, 8.0]), [[0, 0, 0], [1, 0, 0]]).numbers.dtype == np.int64
    with pytest.raises(ValueError, match="integer atomic numbers"):
        Molecule(np.array([6.5, 8.0]), [[0, 0, 0], [1, 0, 0]])


def test_bonds_of_the_wrong_shape_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        Molecule([6, 6, 6], np.eye(3), bonds=[[0, 1], [1, 2], [0, 2]])


def test_non_integer_bond_orders_are_rejected():
    with pytest.raises(ValueError):
        Molecule([6, 6], [[0, 0, 0], [1.4, 0, 0]], bonds=[[0, 1, 1.5]])


def test_rdkit_round_trip_aromatic_name_and_sanitize_error():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles("c1ccncc1"))
    AllChem.EmbedMolecule(rd, randomSeed=0)
    m = Molecule.from_rdkit(rd).replace(properties={"name": "pyridine"})
    assert (m.bonds[:, 2] == 4).sum() == 6
    out = m.to_rdkit()
    assert out.GetProp("_Name") == "pyridine"
    back = Molecule.from_rdkit(out)
    assert np.array_equal(back.bonds, m.bonds) and np.array_equal(back.positions, m.positions)
    assert back.properties["name"] == "pyridine"
    kek = Molecule.from_rdkit(rd, kekulize=True)
    assert sorted(set(kek.bonds[:, 2].tolist())) == [1, 2]
    bad = Molecule([6, 1], [[0, 0, 0], [1.09, 0, 0]], bonds=[[0, 1, 3]])  # H with valence 3
    with pytest.raises(ValueError, match="RDKit could not sanitise"):
        bad.to_rdkit()
    assert bad.to_rdkit(sanitize=False).GetNumAtoms() == 2
    with pytest.raises(ValueError, match="got None"):
        Molecule.from_rdkit(None)


def test_ase_charges_and_no_charges():
    m = Molecule([6, 8], [[0, 0, 0], [1.13, 0, 0]])
    atoms = m.to_ase()
    assert atoms.get_chemical_symbols() == ["C", "O"]
    back = Molecule.from_ase(atoms)
    assert back.charges is None and np.array_equal(back.positions, m.positions)


def test_from_ase_ignores_partial_charges():
    m = Molecule([6, 8], [[0, 0, 0], [1.13, 0, 0]])
    atoms = m.to_ase()
    atoms.set_initial_charges([0.3, -0.3])
    back = Molecule.from_ase(atoms)
    assert back.charges is None and back.properties["initial_charges"] == [0.3, -0.3]


def test_arrays_are_read_only_after_validation():
    m = Molecule([6, 8], [[0, 0, 0], [1.13, 0, 0]])
    with pytest.raises(ValueError, match="read-only"):
        m.positions[0, 0] = float("nan")


def test_permutation_round_trip_and_errors():
    m = ethanol()
    perm = np.random.default_rng(1).permutation(m.num_atoms)
    p = m.permuted(perm)
    inverse = np.argsort(perm)
    back = p.permuted(inverse)
    assert np.array_equal(back.numbers, m.numbers) and np.array_equal(back.positions, m.positions)
    assert np.array_equal(back.bonds, m.bonds) and np.array_equal(back.charges, m.charges)
    assert np.array_equal(p.charges, m.charges[perm])
    for bad in ([0, 0, 1], np.arange(m.num_atoms - 1), np.arange(1, m.num_atoms + 1)):
        with pytest.raises(ValueError, match="permutation"):
            m.permuted(bad)


def test_centring_is_translation_invariant():
    m = ethanol()
    shifted = m.replace(positions=m.positions + np.array([10.0, -3.0, 7.5]))
    assert np.allclose(shifted.centered().positions, m.centered().positions, atol=1e-12)
    assert np.allclose(shifted.center() - m.center(), [10.0, -3.0, 7.5])
    assert np.allclose(m.centered().center(), 0.0, atol=1e-12)
