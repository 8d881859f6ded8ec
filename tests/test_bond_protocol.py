"""The ``bonds`` protocol on hand-made molecules with hand-written bonds (order 4 = aromatic)."""

import math

import numpy as np
import pytest

from unite_mol import Molecule
from unite_mol.metrics import PROTOCOLS, evaluate
from unite_mol.metrics.bond_protocol import atom_stability, valences

Z = {"H": 1, "C": 6, "N": 7, "O": 8}


def hand_made(symbols, bonds, charges=None):
    """A molecule with the given bonds; atoms sit on a 1.5 A grid (the bonds protocol ignores coordinates)."""
    n = len(symbols)
    side = math.ceil(n ** (1 / 3))
    grid = np.array([(i % side, (i // side) % side, i // side ** 2) for i in range(n)], float) * 1.5
    return Molecule([Z[s] for s in symbols], grid, charges, np.array(bonds, dtype=np.int64).reshape(-1, 3))


def ring_with_h(ring, order_of, extra=()):
    """A ring bonded in a cycle with ``order_of(k)``, one H on each ring carbon and on each atom in ``extra``."""
    n = len(ring)
    symbols = list(ring)
    bonds = [(k, (k + 1) % n, order_of(k)) for k in range(n)]
    for k, s in enumerate(ring):
        if s == "C":
            symbols.append("H")
            bonds.append((k, len(symbols) - 1, 1))
    for k in extra:
        symbols.append("H")
        bonds.append((k, len(symbols) - 1, 1))
    return symbols, bonds


def benzene(order_of=lambda k: 4):
    return hand_made(*ring_with_h("CCCCCC", order_of))


def test_aromatic_and_kekule_benzene_are_stable_and_valid():
    for m in (benzene(), benzene(lambda k: 1 + k % 2)):
        r = evaluate([m], protocols=("bonds",))
        assert r["bonds/atom_stability"] == 1.0 and r["bonds/mol_stability"] == 1.0
        assert r["bonds/validity"] == 1.0 and r["bonds/connected"] == 1.0
        assert r.records.loc[0, "bonds_smiles"] == "c1ccccc1"
        assert "bonds:" not in r.records.loc[0, "reason"]
    valence, stable = atom_stability(benzene())
    assert valence[:6].tolist() == [4.0] * 6 and stable.all()


def test_all_single_benzene_is_unstable_with_a_reason():
    r = evaluate([benzene(lambda k: 1)], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 0.0
    assert r["bonds/atom_stability"] == pytest.approx(6 / 12)  # the six carbons sum to 3; the hydrogens are fine
    assert "bonds: unstable atoms C0(valence 3)" in r.records.loc[0, "reason"]


def test_pyridine_nitrogen_sums_aromatic_bonds_before_rounding():
    """MiDi stored 1.5 in an integer tensor: its pyridine N summed to 2 and its benzene C to 3."""
    m = hand_made(*ring_with_h("NCCCCC", lambda k: 4))
    valence, n_aromatic = valences(m)
    assert valence[0] == 3.0 and n_aromatic[0] == 2
    truncated = np.zeros(m.num_atoms)
    for i, j, o in m.bonds:
        truncated[[i, j]] += int(1.5 if o == 4 else o)  # the bug: int(1.5) == 1
    assert truncated[0] == 2 and truncated[1] == 3
    r = evaluate([m], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 1.0 and r["bonds/validity"] == 1.0
    assert r.records.loc[0, "bonds_smiles"] == "c1ccncc1"


@pytest.mark.parametrize("ring, extra, smiles", [
    ("NCCCC", (0,), "c1cc[nH]c1"),   # pyrrole N-H: 1.5 + 1.5 + 1 = 4, read as three single bonds
    ("OCCCC", (), "c1ccoc1"),        # furan O: 3 by the 1.5 sum, read as two single bonds
])
def test_pi_donor_ring_atoms_are_stable(ring, extra, smiles):
    m = hand_made(*ring_with_h(ring, lambda k: 4, extra))
    r = evaluate([m], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 1.0 and r["bonds/validity"] == 1.0
    assert r.records.loc[0, "bonds_smiles"] == smiles


def test_naphthalene_ring_fusion_carbons_are_stable():
    symbols = ["C"] * 10
    ring_bonds = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 9), (9, 0), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
    bonds = [(i, j, 4) for i, j in ring_bonds]
    for k in (0, 1, 2, 3, 5, 6, 7, 8):
        symbols.append("H")
        bonds.append((k, len(symbols) - 1, 1))
    m = hand_made(symbols, bonds)
    valence, stable = atom_stability(m)
    assert valence[4] == valence[9] == 4.5 and stable.all()
    r = evaluate([m], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 1.0 and r["bonds/validity"] == 1.0


def test_lone_aromatic_bond_is_not_rounded_into_stability():
    """MiDi's CH3-(aromatic)-CH3: 3 + 1.5 = 4.5 on each carbon is no valence (the bug made it 4)."""
    symbols = ["C", "C"] + ["H"] * 6
    bonds = [(0, 1, 4)] + [(0, k, 1) for k in (2, 3, 4)] + [(1, k, 1) for k in (5, 6, 7)]
    r = evaluate([hand_made(symbols, bonds)], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 0.0 and r["bonds/validity"] == 0.0
    assert "C0(valence 4.5)" in r.records.loc[0, "reason"]


def test_charged_groups_are_stable_and_valid():
    nitromethane = hand_made(["C", "N", "O", "O", "H", "H", "H"],
                             [(0, 1, 1), (1, 2, 2), (1, 3, 1), (0, 4, 1), (0, 5, 1), (0, 6, 1)],
                             charges=[0, 1, 0, -1, 0, 0, 0])
    ammonium = hand_made(["N", "H", "H", "H", "H"], [(0, k, 1) for k in range(1, 5)], charges=[1, 0, 0, 0, 0])
    r = evaluate([nitromethane, ammonium], protocols=("bonds",))
    assert r["bonds/atom_stability"] == 1.0 and r["bonds/mol_stability"] == 1.0
    assert r["bonds/validity"] == 1.0
    assert r.records["bonds_smiles"].tolist() == ["C[N+](=O)[O-]", "[NH4+]"]
    neutral = nitromethane.replace(charges=None)  # same bonds without the charges: N sums to 4, O- to 1
    r = evaluate([neutral], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 0.0 and "N1(valence 4)" in r.records.loc[0, "reason"]


def test_two_fragments_are_valid_but_not_connected():
    m = hand_made(["C", "H", "H", "H", "H", "O", "H", "H"],
                  [(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 1), (5, 6, 1), (5, 7, 1)])
    r = evaluate([m], protocols=("bonds",))
    assert r["bonds/mol_stability"] == 1.0
    assert r["bonds/validity"] == 1.0 and r["bonds/connected"] == 0.0
    assert r.records.loc[0, "bonds_smiles"] == "C"  # largest fragment, as the edm protocol does


def test_molecule_without_bonds_is_a_recorded_failure():
    with_bonds = benzene()
    r = evaluate([with_bonds.replace(bonds=None), with_bonds], protocols=("edm", "bonds"))
    rec = r.records
    assert "bonds: no bonds" in rec.loc[0, "reason"]
    assert rec["bonds_valid"].tolist() == [False, True]
    assert rec["bonds_mol_stable"].tolist() == [False, True]
    assert r["bonds/validity"] == 0.5 and r["bonds/mol_stability"] == 0.5
    assert r["bonds/atom_stability"] == 0.5  # the bond-less molecule's atoms count as unstable
    with pytest.raises(ValueError, match="carries no bonds"):
        atom_stability(with_bonds.replace(bonds=None))


def test_uniqueness_and_novelty_as_the_edm_protocol():
    pyridine = hand_made(*ring_with_h("NCCCCC", lambda k: 4))
    mols = [benzene(), benzene(lambda k: 1 + k % 2), pyridine]
    r = evaluate(mols, protocols=("bonds",), reference={"c1ccccc1"})
    assert r["bonds/uniqueness"] == pytest.approx(2 / 3)
    assert r["bonds/valid_and_unique"] == pytest.approx(2 / 3)
    assert r["bonds/novelty"] == pytest.approx(1 / 2)  # novel unique / unique


def test_opt_in_and_edm_columns_unchanged():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mols = []
    for smi in ("CCO", "c1ccncc1", "C[N+](=O)[O-]"):
        rd = Chem.AddHs(Chem.MolFromSmiles(smi))
        assert AllChem.EmbedMolecule(rd, randomSeed=0) == 0
        mols.append(Molecule.from_rdkit(rd))
    default = evaluate(mols, reference={"CCO"})
    assert set(PROTOCOLS) == {"edm", "rdkit", "openbabel"}
    assert not [k for k in default.metrics if k.startswith("bonds/")]
    both = evaluate(mols, reference={"CCO"}, protocols=PROTOCOLS + ("bonds",))
    for k, v in default.metrics.items():
        assert both[k] == v or (np.isnan(v) and np.isnan(both[k])), k
    assert both["bonds/mol_stability"] == 1.0 and both["bonds/validity"] == 1.0
    assert both["bonds/novelty"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="unknown protocols.*bonds"):
        evaluate(mols, protocols=("bond",))


def test_bonds_protocol_ignores_coordinates():
    m = benzene()
    moved = m.replace(positions=np.random.default_rng(0).normal(scale=3.0, size=m.positions.shape))
    a, b = evaluate([m], protocols=("bonds",)), evaluate([moved], protocols=("bonds",))
    assert {k: v for k, v in a.metrics.items() if k.startswith("bonds/")} == \
           {k: v for k, v in b.metrics.items() if k.startswith("bonds/")}
