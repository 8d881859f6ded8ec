"""``bench levers``: models side by side, each protocol in its own columns."""

import json
from dataclasses import replace

from helpers import tiny_model
from unite_mol.bench import levers
from unite_mol.generation import build_model, save_model


def test_levers_scores_models_and_keeps_protocols_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(levers, "training_smiles", lambda: {"C", "CC"})
    plain = tiny_model()
    headed = build_model(plain.config, replace(plain.adapter.config, refine_layers=1, bond_head=True))
    save_model(tmp_path / "plain", plain, extra={"training": {"step": 3, "elapsed_s": 1.5}})
    save_model(tmp_path / "headed", headed)
    out = tmp_path / "res"
    rc = levers.main([f"plain={tmp_path / 'plain'}", f"headed={tmp_path / 'headed'}", "--no-physics", "--samples", "4",
                      "--recon", "3", "--out", str(out)])
    assert rc == 0
    rows = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in rows] == ["plain", "headed"]
    assert "gen/bonds/mol_stability" not in rows[0] and "gen/bonds/mol_stability" in rows[1]
    for r in rows:
        assert 0 <= r["gen/edm/atom_stability"] <= 1 and r["samples"] == 4 and "recon/match_adit" in r
    assert rows[0]["train_steps"] == 3
    assert (out / "generation.png").stat().st_size > 1000 and (out / "results.md").read_text().count("|") > 10
    assert levers.main(["no-equals-sign"]) == 2
    rc = levers.main([f"headed={tmp_path / 'headed'}", "--no-physics", "--samples", "3", "--recon", "0", "--relax",
                      "--out", str(tmp_path / "relaxed")])
    rows = json.loads((tmp_path / "relaxed" / "results.json").read_text())
    assert rc == 0 and [r["name"] for r in rows] == ["headed", "headed + MMFF"] and "relaxed" in rows[1]


def test_levers_sampler_settings_per_model(tmp_path, monkeypatch):
    monkeypatch.setattr(levers, "training_smiles", lambda: {"C"})
    save_model(tmp_path / "m", tiny_model())
    assert levers.parse_spec("a=M@method=stochastic,noise_level=0.5,steps=8") == \
        ("a", "M", {"method": "stochastic", "noise_level": 0.5, "steps": 8})
    assert levers.parse_spec("a=M") == ("a", "M", {})
    assert levers.parse_spec("g=M@guide=runs/x/model,guidance=2,estimate_guidance=1.5,time_shift=0.5") == \
        ("g", "M", {"guide": "runs/x/model", "guidance": 2.0, "estimate_guidance": 1.5, "time_shift": 0.5})
    for bad in ["a=M@steps=x", "a=M@speed=2", "a=M@steps", "=M"]:
        try:
            levers.parse_spec(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
    out = tmp_path / "res"
    m = tmp_path / "m"
    rc = levers.main([f"ode={m}@steps=4", f"sde={m}@method=stochastic,noise_level=1.0,steps=4", "--no-physics", "--samples", "3",
                      "--recon", "0", "--out", str(out)])
    rows = json.loads((out / "results.json").read_text())
    assert rc == 0 and [r["sampler"] for r in rows] == ["steps=4", "method=stochastic,noise_level=1.0,steps=4"]
    assert levers.main([f"x={m}@method=rk4", "--no-physics", "--samples", "2", "--recon", "0", "--out", str(out)]) == 2
