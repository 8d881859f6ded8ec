"""``bench drugs --preset pretrained`` (issue 29 item 3): a saved drug-like model scored end to end, named models."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pandas as pd
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("posebusters")
pytest.importorskip("tblite")

from unite_mol.bench import drugs  # noqa: E402
from unite_mol.bench.drugs_pretrained import PUBLISHED, PUBLISHED_LABEL  # noqa: E402

SIZE = 200   # the drug-like set of the smoke preset (160 train / 20 test molecules), cached after one build


@pytest.fixture(scope="module")
def tiny_druglike_model(tmp_path_factory):
    """An untrained GE-T model with a bond head, sized on the drug-like training split and saved with the
    sidecar entries training writes (dataset and data fingerprint): built in about a second."""
    import torch

    from unite_mol.core import preset
    from unite_mol.data.sets import training_set
    from unite_mol.model_io import build_model, save_model
    from unite_mol.molecular import MoleculeConfig

    data = training_set(f"druglike:{SIZE}", workers=1, progress=False)
    train = data.split("train")
    torch.manual_seed(0)
    cfg = MoleculeConfig.from_data(train.numbers, train.positions, train.offsets, refine_layers=1, bond_head=True)
    model = build_model(preset("GE-T"), cfg)
    path = tmp_path_factory.mktemp("model") / "tiny-druglike"
    save_model(path, model, extra={"training": {"dataset": data.name, "data_fingerprint": data.fingerprint()}})
    return path


def run_bench(argv: list[str]) -> tuple[int, str]:
    # stdout only: capsys would also swap sys.stderr, and RDKit's log wrapper keeps writing to the closed stream
    # afterwards, which makes later PoseBusters InChI checks fail in this process (see test_bench_drugs.py)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = drugs.main(argv)
    return rc, buf.getvalue()


def test_pretrained_scores_a_saved_model_end_to_end(tmp_path, tiny_druglike_model, monkeypatch):
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    out = tmp_path / "res"
    rc, printed = run_bench(["--preset", "pretrained", "--model", str(tiny_druglike_model), "--samples", "8",
                             "--xtb-n", "2", "--pb-n", "4", "--mmff-n", "4", "--workers", "1", "--out", str(out)])
    assert rc == 0, printed
    for f in ("results.csv", "results.md", "configs.json", "machine.json", "published.csv"):
        assert (out / f).exists(), f
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 2 and df["entry"].iloc[0].startswith("test data: 8 of the druglike:200 test split [calibration]")
    assert df["entry"].iloc[1].startswith("tiny-druglike (generate() defaults)")
    always = ["gen/openbabel/validity", "gen/openbabel/connected", "gen/openbabel/novelty", "gen/bonds/atom_stability",
              "gen/bonds/mol_stability", "gen/bonds/validity", "gen/bonds/connected", "phys/xtb/n",
              "phys/posebusters/n", "phys/posebusters/own", "phys/posebusters/openbabel", "phys/usable/own",
              "phys/usable/openbabel", "drugs/n", "drugs/mmff_failed", "drugs/fcd_valid", "elements/F", "elements/S",
              "elements/Cl", "elements/Br", "wall_s"]
    for col in always + ["gen/openbabel/uniqueness", "phys/xtb/relax_median_kcal", "phys/xtb/bond_change_mA",
                         "phys/xtb/angle_change_deg", "drugs/mmff_strain_median_kcal", "drugs/fcd",
                         "speed/gen_200_s", "speed/gen_s", "speed/sample_mol_per_s"]:
        assert col in df.columns, col
    for col in always:
        assert df[col].map(math.isfinite).all(), col
    data, model = df.iloc[0], df.iloc[1]
    # calibration: the drug-like test molecules are valid and connected under both protocols, novel, relaxable
    assert data["gen/openbabel/connected"] == 1.0 and data["gen/bonds/connected"] == 1.0
    assert data["gen/bonds/mol_stability"] == 1.0 and data["gen/openbabel/novelty"] == 1.0
    assert data["phys/xtb/n"] == 2 and data["phys/xtb/relax_median_kcal"] >= 0 and data["phys/posebusters/n"] == 4
    assert math.isfinite(data["drugs/fcd"]) and data["drugs/n"] == 4 and data["drugs/mmff_strain_median_kcal"] < 1.0
    assert model["phys/posebusters/n"] == 4 and model["phys/xtb/n"] <= 2 and model["drugs/n"] <= 4
    assert model["speed/gen_s"] > 0 and model["speed/sample_mol_per_s"] > 0
    assert math.isnan(model["speed/gen_200_s"]) and model["speed/gen_first_n"] == 8   # fewer than 200 samples
    configs = json.loads((out / "configs.json").read_text())
    assert configs["data"]["dataset"] == "druglike:200" and configs["data"]["data_matches_model"] is True
    assert configs["xtb_valid_by"] == "openbabel" and configs["samples"] == 8 and configs["data_row"] == 8
    assert configs["reference_molecules"] == 12 and configs["sampler"]["steps"] > 0
    md = (out / "results.md").read_text()
    assert "[calibration]" in md and f"SemlaFlow [{PUBLISHED_LABEL}]" in md and "GEOM-drugs" in md
    assert "S %" in md and "s for 200 molecules" in md and "QM9 data (EDM)" not in md and "(EDM)" not in md
    published = pd.read_csv(out / "published.csv")
    assert published["system"].tolist() == [p[0] for p in PUBLISHED] and (published["label"] == PUBLISHED_LABEL).all()
    for what in ("calibration row", "generating 8 molecules with generate()", "physics: xTB", "MMFF strain"):
        assert f"[bench drugs] {what}" in printed, what


def test_missing_model_and_training_flags_are_refused(tmp_path, capsys):
    from unite_mol.model_io import NAMED_MODELS

    rc = drugs.main(["--preset", "pretrained", "--out", str(tmp_path / "res")])   # default: the drug-like model
    err = capsys.readouterr().err
    if NAMED_MODELS["druglike"].with_suffix(".pt").exists():
        pytest.skip("a drug-like model is shipped now")
    assert rc == 2 and "unite-druglike.pt" in err and "python -m unite_mol.train --dataset druglike" in err
    assert not (tmp_path / "res").exists()
    assert drugs.main(["--preset", "pretrained", "--model", str(tmp_path / "nothing"), "--samples", "4"]) == 2
    assert f"{tmp_path / 'nothing'}.pt not found" in capsys.readouterr().err
    assert drugs.main(["--preset", "pretrained", "--budget", "3s", "--entries", "unite"]) == 2
    assert "drop --entries, --budget" in capsys.readouterr().err
    assert drugs.main(["--preset", "smoke", "--model", "qm9", "--xtb-n", "3"]) == 2       # and the other way round
    assert "--model, --xtb-n: only with --preset pretrained" in capsys.readouterr().err


def test_named_models_resolve():
    from unite_mol.model_io import DEFAULT_MODEL, NAMED_MODELS, load_model, resolve_model

    assert resolve_model(None)[0] == resolve_model("qm9")[0] == DEFAULT_MODEL
    assert resolve_model("druglike")[0] == NAMED_MODELS["druglike"]
    assert NAMED_MODELS["druglike"].name == "unite-druglike"
    assert resolve_model("runs/x/model") == (resolve_model("runs/x/model")[0], "")
    if DEFAULT_MODEL.with_suffix(".pt").exists():
        assert load_model("qm9").meta["weights_sha256"] == load_model().meta["weights_sha256"]
    if not NAMED_MODELS["druglike"].with_suffix(".pt").exists():
        import unite_mol

        with pytest.raises(FileNotFoundError, match=r"unite-druglike\.pt not found.*no drug-like model is shipped yet"
                                                     r".*python -m unite_mol\.train --dataset druglike"):
            unite_mol.generate(1, model="druglike")


def test_physics_refuses_an_unknown_valid_by():
    from unite_mol.metrics.physics import physics_metrics

    with pytest.raises(ValueError, match="valid_by must be one of"):
        physics_metrics([], valid_by="obabel")
