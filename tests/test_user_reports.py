"""What a user hit (issue 28, items 1-5 and 10): each test fails on the behaviour reported."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from helpers import tiny_model
from unite_mol import generate, io
from unite_mol.molecule import Molecule
from unite_mol.sampling import SamplerConfig, SettingTypeError


@pytest.fixture(scope="module")
def shipped():
    from unite_mol import load_model

    return load_model()


# 1. the command line has what the API has
def test_cli_takes_valid_only_relax_num_heavy_atoms_and_max_draws():
    from unite_mol.__main__ import build_parser

    args = build_parser().parse_args(["generate", "--n", "2", "--out", "x.sdf", "--valid-only", "--relax",
                                      "--num-heavy-atoms", "5", "--max-draws", "50", "--sampler", "arm.json"])
    assert args.valid_only and args.relax and args.num_heavy_atoms == 5 and args.max_draws == 50
    assert args.sampler == "arm.json"


def test_cli_bonds_none_writes_no_bonds_and_a_missing_folder_is_refused(tmp_path, shipped, monkeypatch, capsys):
    import unite_mol.__main__ as cli

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    out = tmp_path / "a.sdf"
    assert cli.main(["generate", "--n", "2", "--out", str(out), "--bonds", "none", "--steps", "2"]) == 0
    assert all(m.bonds is None or len(m.bonds) == 0 for m in io.read(out))
    missing = tmp_path / "nowhere" / "b.sdf"
    assert cli.main(["generate", "--n", "1", "--out", str(missing), "--steps", "2"]) == 2
    assert "does not exist" in capsys.readouterr().err and not missing.parent.exists()


def test_cli_sampler_file_is_an_arm(tmp_path):
    import json

    from unite_mol.__main__ import build_parser, sampler_config

    arm = tmp_path / "r1.json"
    arm.write_text(json.dumps({"restarts": 1, "steps": 50}))
    args = build_parser().parse_args(["generate", "--n", "1", "--out", "x.sdf", "--sampler", str(arm), "--steps", "60"])
    assert sampler_config(args) == SamplerConfig(restarts=1, steps=60)
    assert SamplerConfig.from_dict(SamplerConfig(restarts=1).to_dict()) == SamplerConfig(restarts=1)
    arm.write_text(json.dumps({"restartz": 1}))
    with pytest.raises(ValueError, match="restartz"):
        SamplerConfig.from_file(arm)


# 2. a heavy-atom count is a condition, not a rejection filter
def test_num_heavy_atoms_is_a_condition_and_fails_at_once_outside_the_data(shipped):
    t = time.time()
    mols = generate(10, num_heavy_atoms=5, model=shipped, sampler=dict(steps=4), progress=False)
    assert time.time() - t < 60
    assert len(mols) == 10 and all(int((m.numbers > 1).sum()) == 5 for m in mols)
    assert all("drawn" not in m.properties for m in mols)             # no rejection: the first 10 samples
    t = time.time()
    with pytest.raises(ValueError, match="12 heavy atoms requested; no composition"):
        generate(2, num_heavy_atoms=12, model=shipped, progress=False)
    assert time.time() - t < 5


# 3. out-of-range requests say so before sampling
def test_out_of_range_formula_and_temperature_are_named(shipped):
    with pytest.raises(ValueError, match="20 atoms, 20 heavy"):
        generate(2, formula="C20", model=shipped, progress=False)
    with pytest.warns(UserWarning, match="no training molecules of this composition"):
        generate(1, formula="C2", model=shipped, sampler=dict(steps=2), progress=False)
    with pytest.raises(ValueError, match="temperature"):
        generate(1, model=shipped, sampler=dict(temperature=1e6), progress=False)


# 4. valid_only keeps neutral molecules only
def test_valid_only_drops_charged_molecules():
    zwitterion = Molecule(np.array([7, 1, 1, 1, 1]), np.eye(5, 3), bonds=np.array([[0, k, 1] for k in range(1, 5)]),
                          charges=np.array([1, 0, 0, 0, 0]))
    assert zwitterion.invalid_reason() == ""                        # sanitises: RDKit alone keeps it
    assert "formal charge" in zwitterion.invalid_reason(neutral=True)


def test_valid_only_molecules_of_the_shipped_model_are_neutral(shipped):
    mols = generate(6, model=shipped, bonds="rdkit", valid_only=True, sampler=dict(steps=20), progress=False)
    assert all(not m.invalid_reason(neutral=True) for m in mols)
    assert all(not np.any(m.formal_charges) for m in mols)


# 5. the SDF says why a record will not load
def test_sdf_records_carry_their_validity(tmp_path):
    from rdkit import Chem

    good = Molecule(np.array([8, 1, 1]), np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]),
                    bonds=np.array([[0, 1, 1], [0, 2, 1]]))
    five = Molecule(np.array([6, 1, 1, 1, 1, 1]), np.vstack([np.zeros(3), np.eye(3), -np.eye(3)[:2]]),
                    bonds=np.array([[0, k, 1] for k in range(1, 6)]))
    path = io.write(tmp_path / "r.sdf", [good, five])
    text = path.read_text()
    assert text.count("<unite_mol_validity>") == 2
    assert "ok" in text and "sanitisation failed" in text
    supplier = Chem.SDMolSupplier(str(path), sanitize=False)
    tags = [m.GetProp("unite_mol_validity") for m in supplier]
    assert tags[0] == "ok" and "valence" in tags[1].lower()


# 10. loose types are refused
@pytest.mark.parametrize("kwargs, name", [(dict(valid_only="no"), "valid_only"), (dict(relax="yes"), "relax"),
                                          (dict(sampler=dict(guidance=-3)), "guidance"),
                                          (dict(sampler=dict(steps=2.5)), "steps"),
                                          (dict(sampler=dict(valence_from="no")), "valence_from")])
def test_loose_types_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        generate(1, model=tiny_model().eval(), progress=False, **kwargs)
    assert name != "guidance" or "in [0, inf)" in str(info.value)
    if name in ("valid_only", "relax", "steps", "valence_from"):
        assert isinstance(info.value, (SettingTypeError, TypeError))
