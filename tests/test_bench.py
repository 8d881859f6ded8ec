"""The QM9 benchmark harness: the smoke preset end to end, results schema, finite numbers."""

import json
import math

import numpy as np
import pandas as pd

from unite_mol.bench.qm9 import ENTRIES, main


def test_smoke_preset_writes_complete_finite_results(tmp_path, monkeypatch):
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    out = tmp_path / "res"
    rc = main(["--preset", "smoke", "--budget", "3s", "--samples", "8", "--xtb-n", "2", "--physics-ref", "40", "--out", str(out), "--runs", str(tmp_path / "runs")])
    assert rc == 0
    for f in ("results.csv", "results.md", "configs.json", "machine.json", "curves.png"):
        assert (out / f).exists(), f
    df = pd.read_csv(out / "results.csv")
    assert df["entry"].tolist()[1:] == list(ENTRIES)
    for col in ("recon/elem_acc", "recon/match_adit", "gen/edm/atom_stability", "gen/edm/validity",
                "gen/openbabel/validity", "speed/sample_mol_per_s", "train_mol_per_s", "flops", "steps", "wall_s"):
        assert col in df.columns, col
    trained = df.iloc[1:]
    assert (trained["steps"] > 0).all() and (trained["flops"] > 0).all()
    for col in df.columns:
        if df[col].dtype.kind == "f":
            assert all(math.isfinite(v) for v in df[col].dropna()), col  # blank = not defined, never inf
    machine = json.loads((out / "machine.json").read_text())
    assert {"cpu", "cores", "commit", "command", "wall_s"} <= set(machine)
    for entry in ENTRIES:
        assert list((out / "curves" / entry).glob("*metrics.jsonl"))


def test_resume_goes_on_from_the_entry_checkpoint(tmp_path, monkeypatch):
    """``--resume`` trains in RUNS/<preset>/<entry> and, called again, continues that run instead of a new one."""
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    args = ["--preset", "smoke", "--entries", "unite", "--samples", "4", "--no-physics", "--no-data-row",
            "--runs", str(tmp_path / "runs"), "--resume"]
    assert main([*args, "--budget", "2s", "--out", str(tmp_path / "a")]) == 0
    run = tmp_path / "runs" / "smoke" / "unite"
    first = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert (run / "checkpoint.pt").exists() and first
    assert main([*args, "--budget", "4s", "--out", str(tmp_path / "b")]) == 0    # 2 s more for the same run
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[: len(first)] == first and steps[-1] > first[-1]                 # the same log, carried on
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["smoke"]           # no time-stamped second run
    df = pd.read_csv(tmp_path / "b" / "results.csv")
    assert int(df["steps"].iloc[-1]) == steps[-1]


def test_draw_captions_say_what_is_wrong():
    from unite_mol.bench.draw import status
    from unite_mol.molecule import Molecule

    def rd(numbers, bonds):
        pos = np.arange(3 * len(numbers), dtype=float).reshape(-1, 3)
        return Molecule(np.array(numbers), pos, bonds=np.array(bonds).reshape(-1, 3)).to_rdkit(sanitize=False)

    methane = [(0, k, 1) for k in range(1, 5)]
    assert status(rd([6, 1, 1, 1, 1], methane)) == "valid"
    assert status(rd([6, 1, 1, 1], methane[:3])) == "radical"                       # methyl
    assert status(rd([6, 1, 1, 1, 1, 1, 1], methane + [(5, 6, 1)])) == "2 fragments"
    assert status(rd([6, 1, 1, 1, 1, 1], methane + [(0, 5, 1)])) == "not sanitisable"   # five-bonded carbon
