"""Force-field relaxation: energy goes down, chemistry and atom order stay, failures are recorded."""

import numpy as np
import pytest

from unite_mol import Molecule
from unite_mol.relax import relax


def mmff_minimum(smiles: str) -> Molecule:
    """A molecule (bonds from RDKit) at its MMFF94 minimum."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(m, randomSeed=0) == 0
    AllChem.MMFFOptimizeMolecule(m, maxIters=2000)
    return Molecule.from_rdkit(m)


def bond_lengths(m: Molecule) -> np.ndarray:
    i, j = m.bonds[:, 0], m.bonds[:, 1]
    return np.linalg.norm(m.positions[i] - m.positions[j], axis=1)


def test_distorted_ethanol_relaxes_towards_mmff():
    ref = mmff_minimum("CCO")
    noise = np.random.default_rng(0).normal(scale=0.1, size=ref.positions.shape)
    distorted = ref.replace(positions=ref.positions + noise, properties={"name": "ethanol"})
    (out,) = relax([distorted])
    p = out.properties
    assert p["relaxed"] and p["relax_converged"] and p["relax_reason"] == ""
    assert p["relax_force_field"] == "MMFF94"
    assert p["relax_energy_change_kcal"] < -1.0
    assert 0.0 < p["relax_rmsd_A"] < 0.3
    assert p["name"] == "ethanol"  # other properties are kept
    before = np.abs(bond_lengths(distorted) - bond_lengths(ref)).mean()
    after = np.abs(bond_lengths(out) - bond_lengths(ref)).mean()
    assert after < 0.2 * before
    # the chemistry is untouched and the input is not modified
    assert np.array_equal(out.numbers, distorted.numbers) and np.array_equal(out.bonds, distorted.bonds)
    assert np.array_equal(out.formal_charges, distorted.formal_charges)
    assert np.array_equal(distorted.positions, ref.positions + noise) and "relaxed" not in distorted.properties


def test_atom_order_is_kept():
    ref = mmff_minimum("CC(=O)[O-]")  # with a formal charge
    perm = np.random.default_rng(1).permutation(ref.num_atoms)
    shuffled = ref.permuted(perm)
    noise = np.random.default_rng(2).normal(scale=0.05, size=shuffled.positions.shape)
    shuffled = shuffled.replace(positions=shuffled.positions + noise)
    out, out_shuffled = relax([ref, shuffled])
    assert np.array_equal(out_shuffled.numbers, shuffled.numbers)
    assert np.array_equal(out_shuffled.formal_charges, shuffled.formal_charges)
    assert np.array_equal(out_shuffled.bonds, shuffled.bonds)
    # atom k of the output is atom k of the input, moved a little
    assert np.linalg.norm(out_shuffled.positions - shuffled.positions, axis=1).max() < 0.3
    # relaxing the shuffled copy lands where the original is, atom for atom after the same shuffle
    from unite_mol.geometry import kabsch_rmsd

    assert kabsch_rmsd(out_shuffled.positions, out.positions[perm]) < 0.05


def test_aromatic_bonds_relax():
    ref = mmff_minimum("c1ccncc1")
    assert (ref.bonds[:, 2] == 4).any()
    (out,) = relax([ref.replace(positions=ref.positions * 1.05)])
    assert out.properties["relaxed"] and out.properties["relax_energy_change_kcal"] < 0


def test_untypable_molecule_comes_back_unchanged_with_a_reason():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles("CB(C)C"))   # trimethylborane: MMFF94 has no boron types
    assert AllChem.EmbedMolecule(rd, randomSeed=0) == 0
    boron = Molecule.from_rdkit(rd)
    (out,) = relax([boron])
    assert out.properties["relaxed"] is False
    assert out.properties["relax_reason"].startswith("MMFF cannot type the molecule: MMFF94 has no atom types for B")
    assert np.array_equal(out.positions, boron.positions)
    assert np.isnan(out.properties["relax_energy_change_kcal"])
    (uff,) = relax([boron], force_field="uff")       # UFF only when asked
    assert uff.properties["relaxed"] and uff.properties["relax_force_field"] == "UFF"


def test_unsanitisable_molecule_comes_back_unchanged_with_a_reason():
    ref = mmff_minimum("CO")
    c = int(np.flatnonzero(ref.numbers == 6)[0])
    bonds = ref.bonds.copy()
    bonds[(bonds[:, 0] == c) & (ref.numbers[bonds[:, 1]] == 8), 2] = 3   # C#O with three H on C: pentavalent
    bad = ref.replace(bonds=bonds)
    (out,) = relax([bad])
    assert out.properties["relaxed"] is False and "could not sanitise" in out.properties["relax_reason"]
    assert np.array_equal(out.positions, bad.positions)


def test_not_converged_is_recorded():
    ref = mmff_minimum("CCO")
    noisy = ref.replace(positions=ref.positions + np.random.default_rng(0).normal(scale=0.1, size=ref.positions.shape))
    (out,) = relax([noisy], max_iters=1)
    assert out.properties["relaxed"] and not out.properties["relax_converged"]
    assert out.properties["relax_reason"] == "did not converge in 1 iterations"


def test_bad_inputs_raise():
    ref = mmff_minimum("C")
    with pytest.raises(ValueError, match="relax needs bonds; generate with bonds or call .with_bonds"):
        relax([ref, ref.replace(bonds=None)])
    with pytest.raises(ValueError, match="unknown force_field 'gaff'"):
        relax([ref], force_field="gaff")
    with pytest.raises(ValueError, match="max_iters"):
        relax([ref], max_iters=0)
    with pytest.raises(TypeError, match="wrap a single one"):
        relax(ref)
    assert relax([]) == []
