"""One dataset interface (issue 27): QM9, the drug-like set and GEOM files through ``training_set``, and
``python -m unite_mol.train --dataset`` on each."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("rdkit")

from helpers import embedded, have_moses  # noqa: E402

from unite_mol.data import sets  # noqa: E402
from unite_mol.data.bond_labels import bond_matrix  # noqa: E402

TRAIN = ["CCO", "Oc1ccccc1", "CC(=O)Nc1ccccc1", "CCN(CC)CC", "COc1ccccc1", "CC(C)Cc1ccccc1", "NC(=O)c1ccncc1",
         "CS(=O)(=O)N1CCCC1", "Clc1ccc(C#N)cc1", "C=CC(=O)OC"]
VALID = ["CCOC(C)=O", "Clc1ccccc1", "CC#N"]
TEST = ["CC(C)O", "c1ccc2ccccc2c1", "CCS"]
ZWITTERION = "[NH3+]CC(=O)[O-]"


def write_split_pickles(folder, train=TRAIN):
    """A GEOM fixture in MiDi's layout: train as (smiles, [Mol, Mol]) pairs, val and test as bare Mols."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train_data.pickle", "wb") as fh:
        pickle.dump([(s, [embedded(s, k), embedded(s, k + 100)]) for k, s in enumerate(train)], fh, protocol=4)
    for name, smiles in (("val", VALID), ("test", TEST)):
        with open(folder / f"{name}_data.pickle", "wb") as fh:
            pickle.dump([embedded(s, k) for k, s in enumerate(smiles)], fh, protocol=4)
    return folder


@pytest.fixture(scope="module")
def geom_folder(tmp_path_factory):
    return write_split_pickles(tmp_path_factory.mktemp("geom"))


def have_qm9() -> bool:
    import importlib

    q = importlib.import_module("unite_mol.data.qm9")
    try:
        q.load_all()
        return True
    except FileNotFoundError:
        return False


def check_bond_labels(split, labels) -> None:
    """Labels in QM9's format: offsets per molecule, rows (i, j, order) with i < j, the molecule's own bonds."""
    offsets, rows = labels
    assert offsets.shape == (len(split) + 1,) and offsets[0] == 0 and offsets[-1] == len(rows)
    assert rows.dtype == np.int64 and (rows[:, 0] < rows[:, 1]).all() and np.isin(rows[:, 2], [1, 2, 3, 4]).all()
    for k in range(len(split)):
        mol = split[k]
        n = mol.num_atoms
        want = np.zeros((n, n), np.int8)
        want[mol.bonds[:, 0], mol.bonds[:, 1]] = mol.bonds[:, 2]
        want[mol.bonds[:, 1], mol.bonds[:, 0]] = mol.bonds[:, 2]
        np.testing.assert_array_equal(bond_matrix(offsets, rows, np.array([k]), n)[0], want)


# ---------------------------------------------------------------------------------------------- names
def test_names_and_their_errors(tmp_path):
    assert sets.parse_name("qm9") == ("qm9", None) and sets.parse_name("druglike:500") == ("druglike", "500")
    assert sets.canonical_name("druglike:2000") == "druglike" and sets.canonical_name("druglike:50") == "druglike:50"
    assert sets.canonical_name(f"geom:{tmp_path}/x/..") == f"geom:{tmp_path}"
    for bad, match in (("zinc", "unknown dataset 'zinc'.*'qm9', 'druglike'"), ("qm9:1", "unknown dataset"),
                       ("druglike:0", "positive integer"), ("druglike:many", "positive integer"),
                       ("geom:", "needs a folder")):
        with pytest.raises(ValueError, match=match):
            sets.training_set(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sets.training_set(f"geom:{tmp_path}/nowhere")
    with pytest.raises(FileNotFoundError, match="neither train_data.pickle.*nor summary_drugs.json"):
        sets.training_set(f"geom:{tmp_path}")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        sets.training_set("qm9").split("val")


def test_train_refuses_unknown_or_missing_datasets(tmp_path, capsys):
    from unite_mol.train import MolTrainConfig, main

    with pytest.raises(ValueError, match="unknown dataset 'zinc'"):
        MolTrainConfig(dataset="zinc")
    assert main(["--run-dir", str(tmp_path / "r"), "--dataset", "zinc"]) == 2
    assert "error: unknown dataset 'zinc'; choose 'qm9', 'druglike'" in capsys.readouterr().err
    assert main(["--run-dir", str(tmp_path / "r"), "--dataset", f"geom:{tmp_path}/missing"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------- GEOM
def test_geom_split_pickles_as_a_training_set(geom_folder):
    data = sets.training_set(f"geom:{geom_folder}")
    assert isinstance(data, sets.GeomSet) and data.layout == "split-pickles" and data.name == f"geom:{geom_folder}"
    assert [len(data.split(s)) for s in sets.SPLITS] == [len(TRAIN), len(VALID), len(TEST)]   # first conformer
    assert data.elements == (1, 6, 7, 8, 16, 17)
    for name in sets.SPLITS:
        check_bond_labels(data.split(name), data.bond_labels(name))
    assert (data.bond_labels("train")[1][:, 2] == 4).any()                       # aromatic rings keep order 4
    fp = data.fingerprint()
    assert "split-pickles" in fp and fp == sets.training_set(f"geom:{geom_folder}").fingerprint()
    two = sets.training_set(f"geom:{geom_folder}", geom_conformers=2)
    assert len(two.split("train")) == 2 * len(TRAIN) and two.fingerprint() != fp
    assert data.notes() == {"source": "geom-split-pickles", "folder": str(geom_folder), "conformers": 1,
                            "charged_left_out": {"train": 0, "valid": 0, "test": 0}}


def test_geom_charged_molecules_stop_or_are_counted(tmp_path):
    folder = write_split_pickles(tmp_path / "g", train=TRAIN + [ZWITTERION])
    with pytest.raises(ValueError, match=r"\[NH3\+\]CC\(=O\)\[O-\].*formal charges.*--skip-charged"):
        sets.training_set(f"geom:{folder}").split("train")
    data = sets.training_set(f"geom:{folder}", skip_charged=True)
    assert len(data.split("train")) == len(TRAIN) and data.notes()["charged_left_out"]["train"] == 1


def test_geom_rdkit_folder_is_detected(tmp_path):
    from test_geom import write_rdkit_folder

    write_rdkit_folder(tmp_path, smiles=TRAIN[:8] + VALID[:1] + TEST[:1])
    data = sets.training_set(f"geom:{tmp_path}")
    assert data.layout == "rdkit-folder"
    assert sum(len(data.split(s)) for s in sets.SPLITS) == 10
    check_bond_labels(data.split("train"), data.bond_labels("train"))


# ---------------------------------------------------------------------------------------------- drug-like, QM9
def test_druglike_set(druglike_cache):
    if not have_moses():
        pytest.skip("molsets (MOSES SMILES) is not installed")
    from unite_mol.data import druglike as dl

    data = sets.training_set("druglike:20", workers=1, progress=False)
    assert data.name == "druglike:20" and sets.training_set("druglike").name == "druglike"
    train = data.split("train")
    assert isinstance(train, dl.DrugLikeSplit) and len(train) == 16
    assert set(data.elements) <= {1, 6, 7, 8, 9, 16, 17, 35} and {1, 6, 7, 8} <= set(data.elements)
    for name in sets.SPLITS:
        check_bond_labels(data.split(name), data.bond_labels(name))
    assert data.fingerprint() == (f"molsets-0.3.1 train.csv.gz size 20 seed 0 settings {dl.settings_key(0)}")


def test_qm9_set_is_what_training_read_before():
    if not have_qm9():
        pytest.skip("QM9 (qm9pack) is not installed")
    from unite_mol.data.bond_labels import qm9_bond_labels
    from unite_mol.data.qm9 import data_fingerprint, qm9
    from unite_mol.data.runs import eval_rows

    data = sets.training_set("qm9")
    assert data.split("train") is qm9("train") and data.split("valid") is qm9("valid")
    assert data.fingerprint() == data_fingerprint() and data.elements == (1, 6, 7, 8, 9)
    for a, b in zip(data.bond_labels("valid"), qm9_bond_labels("valid")):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(eval_rows(qm9("valid"), qm9("train"), 512), np.arange(512))   # as before


# ---------------------------------------------------------------------------------------------- training
def run_train(run_dir, dataset, *extra):
    from unite_mol.train import main

    return main(["--run-dir", str(run_dir), "--dataset", dataset, "--preset", "GE-T", "--budget", "2s",
                 "--batch-size", "4", "--refine-layers", "1", "--bond-head", *extra])


def test_train_on_geom_and_druglike_records_the_dataset(tmp_path, geom_folder, druglike_cache, monkeypatch, capsys):
    """``train --dataset geom:<fixture>`` and ``--dataset druglike:N`` train with the bond head and save a model
    whose sidecar names the dataset and its fingerprint; a run folder refuses another dataset."""
    from unite_mol.model_io import load_model

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    run = tmp_path / "geom"
    assert run_train(run, f"geom:{geom_folder}") == 0
    meta = json.loads((run / "model.json").read_text())
    assert meta["training"]["dataset"] == f"geom:{geom_folder}"
    assert meta["training"]["data_fingerprint"] == sets.training_set(f"geom:{geom_folder}").fingerprint()
    assert meta["training"]["data_notes"]["source"] == "geom-split-pickles"
    model = load_model(run / "model")
    assert tuple(model.adapter.config.elements) == (1, 6, 7, 8, 16, 17) and model.adapter.config.bond_head
    assert json.loads((run / "config.json").read_text())["molecule_training"]["dataset"] == f"geom:{geom_folder}"
    capsys.readouterr()
    assert run_train(run, "qm9") == 2
    assert "holds a run trained on --dataset geom:" in capsys.readouterr().err
    if not have_moses():
        return
    run = tmp_path / "drugs"
    assert run_train(run, "druglike:20") == 0
    meta = json.loads((run / "model.json").read_text())
    assert meta["training"]["dataset"] == "druglike:20" and "size 20 seed 0" in meta["training"]["data_fingerprint"]
    assert run_train(run, "druglike:20", "--budget", "3s") == 0                 # the same dataset resumes
