"""GEOM-drugs loaders on fixtures written in GEOM's own formats (rdkit_folder; MiDi-style split pickles)."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

pytest.importorskip("rdkit")

from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402

from unite_mol.data import geom  # noqa: E402

# benzene-like aromatic, a zwitterion (formal charges), bromine, and a sulfonamide
SMILES = ["c1ccncc1", "[NH3+]CC(=O)[O-]", "Brc1ccc(O)cc1", "CS(N)(=O)=O", "CCOC(=O)C"]


def embed(smiles: str, n_conf: int, seed: int = 0) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    ids = AllChem.EmbedMultipleConfs(mol, n_conf, params)
    assert len(ids) == n_conf
    return mol


def single_conformer(mol: Chem.Mol, cid: int) -> Chem.Mol:
    out = Chem.Mol(mol, confId=cid)
    return out


def write_rdkit_folder(root, smiles=SMILES, n_conf=3):
    """The GEOM release layout: summary_drugs.json + drugs/<k>.pickle with a 'conformers' list."""
    (root / "drugs").mkdir(parents=True)
    summary = {}
    for k, smi in enumerate(smiles):
        mol = embed(smi, n_conf, seed=k)
        energies = [-10.0 - 0.001 * ((j * 7 + k) % n_conf) for j in range(n_conf)]   # lowest varies by molecule
        w = np.exp(-(np.array(energies) - min(energies)) * 627.5 / 0.593)
        w = w / w.sum()
        confs = [{"geom_id": 1000 * k + j, "rd_mol": single_conformer(mol, j), "totalenergy": energies[j],
                  "boltzmannweight": float(w[j]), "relativeenergy": 0.0, "degeneracy": 1} for j in range(n_conf)]
        rel = f"drugs/{k}.pickle"
        with open(root / rel, "wb") as fh:
            pickle.dump({"conformers": confs, "smiles": smi, "charge": Chem.GetFormalCharge(mol),
                         "uniqueconfs": n_conf}, fh, protocol=4)
        summary[smi] = {"pickle_path": rel, "charge": Chem.GetFormalCharge(mol), "uniqueconfs": n_conf,
                        "lowestenergy": min(energies)}
    summary["CCCCCCCCCCCC"] = {"charge": 0, "uniqueconfs": 0}  # GEOM lists a few molecules without a pickle
    (root / "summary_drugs.json").write_text(json.dumps(summary))
    return summary


@pytest.fixture
def folder(tmp_path):
    write_rdkit_folder(tmp_path)
    return tmp_path


def test_rdkit_folder_lowest_energy(folder):
    data = geom.load_rdkit_folder(folder, smiles=SMILES)
    assert len(data) == len(SMILES) and data.smiles == SMILES and data.skipped == []
    for k, m in enumerate(data):
        with open(folder / f"drugs/{k}.pickle", "rb") as fh:
            confs = pickle.load(fh)["conformers"]
        best = int(np.argmin([c["totalenergy"] for c in confs]))
        assert m.properties["conformer"] == best
        assert m.properties["energy"] == confs[best]["totalenergy"]
        assert m.properties["weight"] == pytest.approx(confs[best]["boltzmannweight"])
        assert m.properties["smiles"] == SMILES[k]
        ref = confs[best]["rd_mol"]
        np.testing.assert_allclose(m.positions, ref.GetConformer().GetPositions())
        assert m.numbers.tolist() == [a.GetAtomicNum() for a in ref.GetAtoms()]


def test_charges_and_aromatic_bonds_carried(folder):
    data = geom.load_rdkit_folder(folder, smiles=SMILES[:2])
    pyridine, glycine = data
    assert (pyridine.bonds[:, 2] == 4).sum() == 6                       # aromatic = 4, not rounded
    assert sorted(glycine.charges.tolist()) == [-1] + [0] * (glycine.num_atoms - 2) + [1]
    assert geom.vocabulary(data)["charges"] == [-1, 0, 1]
    assert Chem.MolToSmiles(Chem.RemoveHs(glycine.to_rdkit())) == Chem.MolToSmiles(Chem.MolFromSmiles(SMILES[1]))


def test_top_k_and_all(folder):
    top2 = geom.load_rdkit_folder(folder, smiles=SMILES, select="top_k", top_k=2)
    assert len(top2) == 2 * len(SMILES)
    for smi in SMILES:
        ws = [m.properties["weight"] for m in top2 if m.properties["smiles"] == smi]
        assert ws == sorted(ws, reverse=True)
    every = geom.load_rdkit_folder(folder, select="all", on_error="skip")
    assert len(every) == 3 * len(SMILES)
    assert every.skipped == [("CCCCCCCCCCCC", "summary_drugs.json gives no pickle_path (GEOM lists some molecules "
                                               "without conformers)")]
    with pytest.raises(ValueError, match="CCCCCCCCCCCC"):
        geom.load_rdkit_folder(folder)
    with pytest.raises(ValueError, match="unknown conformer selection"):
        geom.load_rdkit_folder(folder, select="best")


def test_vocabulary_and_size_errors_name_the_molecule(folder):
    with pytest.raises(ValueError, match=r"Brc1ccc\(O\)cc1.*\['Br'\] outside the vocabulary"):
        geom.load_rdkit_folder(folder, smiles=SMILES, elements=["H", "C", "N", "O", "S"])
    with pytest.raises(ValueError, match=r"c1ccncc1.*11 atoms.*max_atoms=10"):
        geom.load_rdkit_folder(folder, smiles=SMILES, max_atoms=10)
    with pytest.raises(ValueError, match=r"formal charge"):
        geom.load_rdkit_folder(folder, smiles=SMILES, charges=[0])
    kept = geom.load_rdkit_folder(folder, smiles=SMILES, elements=[1, 6, 7, 8, 16], on_error="skip")
    assert [s for s, _ in kept.skipped] == ["Brc1ccc(O)cc1"]
    assert len(kept) == len(SMILES) - 1


def test_split_by_molecule_never_by_conformer(folder):
    data = geom.load_rdkit_folder(folder, select="all", on_error="skip")
    parts = geom.split_by_molecule(data, fractions=(0.6, 0.2, 0.2), seed=3)
    assert sum(len(v) for v in parts.values()) == len(data)
    assert all(not s for s in geom.split_overlap(parts).values())
    for v in parts.values():
        for smi in {m.properties["smiles"] for m in v}:
            assert sum(m.properties["smiles"] == smi for m in v) == 3     # every conformer came along
    again = geom.split_by_molecule(list(reversed(data.molecules)), fractions=(0.6, 0.2, 0.2), seed=3)
    assert {k: {m.properties["smiles"] for m in v} for k, v in parts.items()} == \
           {k: {m.properties["smiles"] for m in v} for k, v in again.items()}  # order-independent, seeded
    s0 = geom.split_smiles([f"C{'C' * k}" for k in range(50)], seed=0)
    s1 = geom.split_smiles([f"C{'C' * k}" for k in range(50)], seed=1)
    assert [len(s0[k]) for k in geom.SPLIT_NAMES] == [40, 5, 5] and s0 != s1
    with pytest.raises(ValueError, match="fractions"):
        geom.split_smiles(["C"], fractions=(0.5, 0.2, 0.2))


def write_split_pickles(root, names=("train", "val", "test")):
    """MiDi's shape, a list of (smiles, [Mol per conformer]) pairs, for train; bare Mol entries for val/test."""
    groups = {"train": SMILES[:3], "val": SMILES[3:4], "test": SMILES[4:]}
    old = Chem.GetDefaultPickleProperties()
    Chem.SetDefaultPickleProperties(Chem.PropertyPickleOptions.AllProps)   # keep the energy property
    try:
        for word in names:
            items = []
            for k, smi in enumerate(groups[word]):
                mol = embed(smi, 3, seed=k)
                confs = []
                for cid in range(3):
                    one = single_conformer(mol, cid)
                    one.SetProp("totalenergy", str(-5.0 - cid))
                    confs.append(one)
                items.append((smi, confs) if word == "train" else confs[0])
            with open(root / f"{word}_data.pickle", "wb") as fh:
                pickle.dump(items, fh, protocol=4)
    finally:
        Chem.SetDefaultPickleProperties(old)
    return groups


def test_split_pickles(tmp_path):
    groups = write_split_pickles(tmp_path)
    data = geom.load_split_pickles(tmp_path)
    assert list(data) == ["train", "valid", "test"]
    assert len(data["train"]) == 9 and len(data["valid"]) == 1 and len(data["test"]) == 1
    canon = lambda s: Chem.MolToSmiles(Chem.MolFromSmiles(s))  # noqa: E731
    assert data["train"].smiles == groups["train"]                       # the pair's own SMILES
    assert data["valid"].smiles == [canon(s) for s in groups["val"]]     # bare Mol: RDKit's canonical SMILES
    assert [m.properties["energy"] for m in data["train"][:3]] == [-5.0, -6.0, -7.0]
    assert [m.properties["conformer"] for m in data["train"][:3]] == [0, 1, 2]
    assert all(not s for s in geom.split_overlap(data).values())
    gly = data["train"].molecules[3]
    assert gly.charges.min() == -1 and gly.charges.max() == 1
    assert len(geom.load_mol_list(tmp_path / "train_data.pickle", max_conformers=2)) == 6   # MiDi keeps 5
    with pytest.raises(ValueError, match=r"Brc1ccc\(O\)cc1.*outside the vocabulary"):
        geom.load_mol_list(tmp_path / "train_data.pickle", elements=["H", "C", "N", "O"])
    with pytest.raises(FileNotFoundError, match="nope_data.pickle"):
        geom.load_split_pickles(tmp_path, names={"train": "nope"})
    with pytest.raises(ValueError, match="max_conformers"):
        geom.load_mol_list(tmp_path / "train_data.pickle", max_conformers=0)


def test_multi_conformer_mol_list(tmp_path):
    mol = embed("CCO", 4)
    with open(tmp_path / "m.pickle", "wb") as fh:
        pickle.dump([mol, ("CC", "not molecules")], fh)
    kept = geom.load_mol_list(tmp_path / "m.pickle", on_error="skip")
    assert len(kept) == 4 and kept.skipped[0][0] == "m.pickle[1]" and "neither an RDKit Mol" in kept.skipped[0][1]
    first = geom.load_mol_list(tmp_path / "m.pickle", max_conformers=1, on_error="skip")
    assert len(first) == 1 and first[0].properties["smiles"] == "CCO"


def test_implicit_hydrogens_and_wrong_contents(tmp_path):
    no_h = Chem.MolFromSmiles("CCO")
    AllChem.EmbedMolecule(no_h, randomSeed=0)
    with open(tmp_path / "noh.pickle", "wb") as fh:
        pickle.dump([no_h], fh)
    with pytest.raises(ValueError, match="CCO.*implicit hydrogens"):
        geom.load_mol_list(tmp_path / "noh.pickle")
    with open(tmp_path / "dict.pickle", "wb") as fh:
        pickle.dump({"a": 1}, fh)
    with pytest.raises(ValueError, match="expected a list of RDKit molecules"):
        geom.load_mol_list(tmp_path / "dict.pickle")


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_allow_list(tmp_path):
    path = tmp_path / "evil.pickle"
    with open(path, "wb") as fh:
        pickle.dump([_Evil()], fh)
    with pytest.raises(ValueError, match=r"refused to unpickle global posix.getcwd|refused to unpickle global os.getcwd"):
        geom.load_mol_list(path)
    assert geom.read_pickle(path, trusted=True) == [os.getcwd()]   # the explicit escape hatch
    np_path = tmp_path / "np.pickle"
    with open(np_path, "wb") as fh:
        pickle.dump({"e": np.float64(1.5), "a": np.arange(3)}, fh)
    out = geom.read_pickle(np_path)
    assert out["e"] == 1.5 and out["a"].tolist() == [0, 1, 2]
