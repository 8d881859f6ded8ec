"""``bench throughput``: the steady-state rate excludes the warm-up; padding share; argument errors."""

import json

import pytest

from unite_mol.bench import throughput


def test_steady_rate_skips_the_first_third(tmp_path):
    curve = tmp_path / "metrics.jsonl"
    # a slow start (compilation: 60 s to step 5), then 1 step/s
    lines = [{"step": 5, "wall_s": 60.0}] + [{"step": 5 + 5 * k, "wall_s": 60.0 + 5 * k} for k in range(1, 25)]
    curve.write_text("\n".join(json.dumps(x) for x in lines))
    r = throughput.steady_rate(curve)
    assert r["steps_per_s"] == pytest.approx(1.0) and r["first_log_s"] == 60.0 and r["steps"] == 125
    curve.write_text(json.dumps(lines[0]))            # compilation used up the budget: a note, not a crash
    r = throughput.steady_rate(curve)
    assert r["steps_per_s"] != r["steps_per_s"] and "fewer than two log lines" in r["note"] and r["first_log_s"] == 60
    r = throughput.steady_rate(tmp_path / "missing.jsonl")
    assert r["steps"] == 0 and "no steady rate" in r["note"]
    row = {"variant": "x", "flags": "", **r, "mol_per_s": float("nan"), "gflop_per_step": 1.0,
           "gflop_per_s": float("nan"), "run_steps": 0, "run_s": 200.0}
    machine = {"command": "c", "commit": "abc", "cpu": "cpu", "torch_threads": 2, "date": "d", "wall_s": 1.0}
    text = throughput.markdown([row], {"peak_fp32_gflops": 1.0, "peak_bf16_gflops": 2.0, "padding_share": 0.9}, machine)
    assert "no steady rate" in text and "| 0 in 200 s |" in text


def test_padding_share_and_bad_variants(monkeypatch):
    import numpy as np

    from unite_mol import data

    class Split:
        num_atoms = np.array([3, 3, 3, 3, 5, 5, 5, 5])

    monkeypatch.setattr(data, "qm9", lambda name: Split())
    share = throughput.padding_share(batch_size=4)
    assert 0.6 <= share <= 1.0     # perfect bucketing gives 1; mixing 3s and 5s in a batch gives 0.6
    assert throughput.main(["--variants", "fp64"]) == 2
    assert throughput.main(["--budget", "soon"]) == 2
