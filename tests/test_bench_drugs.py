"""The drug bench: the smoke preset's results schema on a tiny budget, GEOM files, charged molecules."""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("posebusters")

from helpers import embedded  # noqa: E402

from unite_mol.bench import drugs  # noqa: E402
from unite_mol.bench.drugs_data import FlatMolecules, geom_splits, require_uncharged  # noqa: E402
from unite_mol.molecule import Molecule  # noqa: E402

TRAIN = ["CCO", "Oc1ccccc1", "CC(=O)Nc1ccccc1", "CCN(CC)CC", "COc1ccccc1", "CC(C)Cc1ccccc1", "NC(=O)c1ccncc1",
         "CS(=O)(=O)N1CCCC1"]
VALID = ["CCOC(C)=O", "Clc1ccccc1"]
TEST = ["CC(C)O", "c1ccc2ccccc2c1", "CCS"]
ZWITTERION = "[NH3+]CC(=O)[O-]"


def write_split_pickles(folder, train=TRAIN):
    """MiDi's layout: train as (smiles, [Mol]) pairs, val and test as bare Mols (both shapes occur)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train_data.pickle", "wb") as fh:
        pickle.dump([(s, [embedded(s, k)]) for k, s in enumerate(train)], fh, protocol=4)
    for name, smiles in (("val", VALID), ("test", TEST)):
        with open(folder / f"{name}_data.pickle", "wb") as fh:
            pickle.dump([embedded(s, k) for k, s in enumerate(smiles)], fh, protocol=4)
    return folder


def check_results(out, n_trained):
    for f in ("results.csv", "results.md", "configs.json", "machine.json", "curves.png"):
        assert (out / f).exists(), f
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 1 + n_trained and df["entry"].iloc[0].startswith("test data")
    for col in ("recon/elem_acc", "recon/match_adit", "recon/rmsd_all_median", "recon/equivariance_rmsd_median",
                "gen/openbabel/validity", "gen/openbabel/connected", "gen/openbabel/uniqueness",
                "gen/openbabel/novelty", "drugs/n", "drugs/posebusters_all", "drugs/mmff_failed", "drugs/fcd_valid",
                "speed/sample_mol_per_s", "train_mol_per_s", "flops", "steps", "wall_s", "params"):
        assert col in df.columns, col
    assert "gen/edm/validity" not in df.columns          # the EDM protocol is not reported for drug-sized molecules
    trained = df.iloc[1:]
    assert (trained["steps"] > 0).all() and (trained["flops"] > 0).all() and (trained["params"] > 0).all()
    assert trained["recon/elem_acc"].between(0, 1).all()
    for col in df.columns:
        if df[col].dtype.kind == "f":
            assert all(math.isfinite(v) for v in df[col].dropna()), col
    machine = json.loads((out / "machine.json").read_text())
    assert {"cpu", "cores", "commit", "command", "wall_s", "date"} <= set(machine)
    md = (out / "results.md").read_text()
    assert "Drug-sized molecules benchmark" in md and "PoseBusters pass %" in md and "QM9 data (EDM)" not in md
    return df, json.loads((out / "configs.json").read_text())


def test_smoke_schema_on_the_druglike_set(tmp_path, monkeypatch):
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    out = tmp_path / "res"
    # stdout only: capsys would also swap sys.stderr, and RDKit's log wrapper (set up inside the bench) keeps
    # writing to the closed stream afterwards, which makes later PoseBusters InChI checks fail in this process
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = drugs.main(["--preset", "smoke", "--budget", "3s", "--samples", "4", "--drug-samples", "2", "--size",
                         "200", "--out", str(out), "--runs", str(tmp_path / "runs")])
    assert rc == 0
    # issue 28: the smoke preset says its numbers are meaningless; every evaluation phase is announced and timed
    printed = buf.getvalue()
    assert "say nothing about either method" in (out / "results.md").read_text()
    assert printed.count("say nothing about either method") == 2     # at the start and in the printed results
    for what in ("reconstruction of", "sampling 4 molecules", "drug metrics", "FCD of", "scoring 4 test molecules"):
        assert f"[bench drugs] {what}" in printed, what
    assert printed.count("done in") >= 9       # data row: 3 phases; each of 2 entries: 4
    assert "| 2 |" in printed and "2.000" not in printed               # drug-metric molecules: a count
    df, configs = check_results(out, 2)
    assert df["entry"].tolist()[1:] == ["unite", "two-stage"]
    data = df.iloc[0]
    # calibration: the drug-like test molecules themselves are valid, connected, unique and pass PoseBusters
    assert data["gen/openbabel/validity"] == 1.0 and data["gen/openbabel/connected"] == 1.0
    assert data["gen/openbabel/novelty"] == 1.0        # test SMILES are not in the training split
    assert data["drugs/n"] == 2 and data["drugs/posebusters_all"] == 1.0 and data["drugs/mmff_strain_median_kcal"] < 1.0
    assert configs["data"]["source"] == "druglike" and configs["data"]["train_max_atoms"] >= 40
    assert configs["settings"]["budget_s"] == 3 and configs["protocol"] == "openbabel"
    # curves are copied for every entry; a 3 s budget on a loaded machine may end before the first log line
    steps = dict(zip(df["entry"], df["steps"]))
    for entry in ("unite", "two-stage"):
        assert (out / "curves" / entry).is_dir()
        if steps[entry] >= 40:   # the bench logs every 10 steps of each stage: by then a curve line exists
            assert list((out / "curves" / entry).glob("*metrics.jsonl"))


def test_geom_split_pickles_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    folder = write_split_pickles(tmp_path / "geom")
    splits, notes = geom_splits(split_pickles=str(folder))
    assert [len(splits[s]) for s in ("train", "test")] == [len(TRAIN), len(TEST)]
    train = splits["train"]
    assert isinstance(train, FlatMolecules) and train.offsets[-1] == len(train.numbers) == train.num_atoms.sum()
    k = 2
    np.testing.assert_array_equal(train.numbers[train.offsets[k]: train.offsets[k + 1]], train[k].numbers)
    assert train.smiles.tolist() == TRAIN and notes["charged_left_out"] == {"train": 0, "test": 0}
    out = tmp_path / "res"
    rc = drugs.main(["--preset", "smoke", "--geom-split-pickles", str(folder), "--entries", "unite", "--budget", "3s",
                     "--samples", "2", "--drug-samples", "2", "--out", str(out), "--runs", str(tmp_path / "runs")])
    assert rc == 0
    df, configs = check_results(out, 1)
    assert configs["data"]["source"] == "geom-split-pickles" and configs["data"]["train"] == len(TRAIN)
    # naphthalene's 18 atoms fit (train has 20+-atom molecules); "CCS" has S, which training has too
    assert configs["data"]["test_left_out_of_reconstruction"] == 0
    assert df.iloc[0]["gen/openbabel/validity"] == 1.0


def test_geom_rdkit_folder_layout(tmp_path):
    from test_geom import write_rdkit_folder

    smiles = TRAIN + TEST
    write_rdkit_folder(tmp_path, smiles=smiles, n_conf=2)
    splits, notes = geom_splits(rdkit_folder=str(tmp_path), seed=1)
    assert notes["source"] == "geom-rdkit-folder"
    got = set(splits["train"].smiles) | set(splits["test"].smiles)
    assert got <= set(smiles) and not set(splits["train"].smiles) & set(splits["test"].smiles)
    assert len(splits["train"]) == round(0.8 * len(smiles))


def test_charged_molecule_is_refused_by_name(tmp_path, capsys):
    folder = write_split_pickles(tmp_path / "geom", train=TRAIN + [ZWITTERION])
    with pytest.raises(ValueError, match=r"\[NH3\+\]CC\(=O\)\[O-\].*GEOM train split.*formal charges.*no charge head"):
        geom_splits(split_pickles=str(folder))
    rc = drugs.main(["--preset", "smoke", "--geom-split-pickles", str(folder), "--out", str(tmp_path / "res")])
    assert rc == 2 and "[NH3+]CC(=O)[O-]" in capsys.readouterr().err and not (tmp_path / "res").exists()
    splits, notes = geom_splits(split_pickles=str(folder), skip_charged=True)
    assert len(splits["train"]) == len(TRAIN) and notes["charged_left_out"]["train"] == 1
    ammonium = Molecule([7, 1, 1, 1, 1], np.eye(5, 3), charges=[1, 0, 0, 0, 0], properties={"smiles": "[NH4+]"})
    water = Molecule([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    with pytest.raises(ValueError, match=r"'\[NH4\+\]'.*N0:\+1"):
        require_uncharged([water, ammonium], where="a test")
    assert require_uncharged([water, ammonium], where="a test", skip=True) == ([water], ["[NH4+]"])


def test_bad_options_are_refused(capsys):
    assert drugs.main(["--entries", "unite,diffusion"]) == 2
    assert "unknown entries ['diffusion']" in capsys.readouterr().err
    assert drugs.main(["--dataset", "druglike", "--size", "300"]) == 2
    assert "--dataset names the data by itself" in capsys.readouterr().err
    assert drugs.main(["--dataset", "zinc"]) == 2
    assert "unknown dataset 'zinc'" in capsys.readouterr().err


def test_dataset_names_give_the_same_splits_as_the_geom_flags(tmp_path):
    """``bench drugs --dataset geom:FOLDER`` reads the training set ``train --dataset`` reads."""
    from unite_mol.bench.drugs_data import bench_splits
    from unite_mol.data.sets import training_set

    folder = write_split_pickles(tmp_path / "geom")
    by_flag, notes = geom_splits(split_pickles=str(folder))
    by_name, notes_by_name = bench_splits(training_set(f"geom:{folder}"))
    assert notes == notes_by_name
    for name in ("train", "test"):
        for key in ("numbers", "positions", "offsets", "smiles"):
            np.testing.assert_array_equal(getattr(by_flag[name], key), getattr(by_name[name], key))
    assert drugs.main(["--geom-split-pickles", "a", "--geom-rdkit-folder", "b"]) == 2
    with pytest.raises(SystemExit):
        drugs.main(["--preset", "huge"])
