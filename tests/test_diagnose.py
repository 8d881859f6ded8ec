"""The generation diagnostic: partial denoising, decoder sensitivity, latent and structure statistics, CLI."""

import json

import numpy as np
import pytest
import torch

from helpers import tiny_model
from unite_mol.bench import diagnose as dg
from unite_mol.core.samplers import sample
from unite_mol.data import qm9
from unite_mol.generation import save_model

SCORES = {"mol_stability", "atom_stability", "valid_connected", "elem_acc", "rmsd_median"}


@pytest.fixture(scope="module")
def model_and_encoded():
    model = tiny_model().eval()
    test = qm9("test")
    return model, dg.encode_molecules(model, [test[i] for i in range(4)], seed=0, batch_size=3)


def test_sampler_t_start_lands_on_a_perfect_prediction_and_keeps_the_default():
    target = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(2))
    z_t = 0.7 * target + 0.3 * noise
    assert torch.allclose(sample(lambda z, t: target, z_t, steps=3, t_start=0.7), target, atol=1e-5)
    calls = []
    sample(lambda z, t: calls.append(float(t[0])) or target, z_t, steps=2, method="euler", t_start=0.5)
    assert calls == pytest.approx([0.5, 0.75])
    f = lambda z, t: torch.tanh(z) * t.view(-1, 1, 1)  # noqa: E731
    assert torch.equal(sample(f, noise, steps=4), sample(f, noise, steps=4, t_start=0.0))
    with pytest.raises(ValueError, match="t_start"):
        sample(f, noise, t_start=1.0)


def test_partial_denoising_and_decoder_sensitivity(model_and_encoded):
    model, enc = model_and_encoded
    assert len(enc.inputs) == 4 and [c[0].shape[0] for c in enc.chunks] == [3, 1]
    rows = dg.partial_denoising(model, enc, times=(1.0, 0.9, 0.0), steps=4)
    assert [r["steps"] for r in rows] == [0, 1, 4]
    assert rows[0]["noise_left"] is None and all(r["noise_left"] > 0 for r in rows[1:])
    for r in rows:
        assert SCORES <= set(r) and all(0 <= r[k] <= 1 for k in SCORES - {"rmsd_median"}) and r["rmsd_median"] >= 0
    sens = dg.decoder_sensitivity(model, enc, sigmas=(0.0, 0.2))
    # t = 1 is decode only, as is sigma 0: both are the plain decoding of z0
    plain = dg.score_decoded(enc.inputs, dg.decode_arrays(model, enc, [c[0] for c in enc.chunks]))
    assert {k: rows[0][k] for k in SCORES} == {k: sens[0][k] for k in SCORES} == plain
    assert dg.integration_steps(0.98, 25) == 1 and dg.integration_steps(0.5, 25) == 12


def test_latent_stats_flags_a_constant_channel(model_and_encoded):
    _, enc = model_and_encoded
    z = enc.latents()
    assert z.shape == (sum(len(n) for n, _ in enc.inputs), 8)
    z[:, 3] = 0.25
    s = dg.latent_stats(z)
    assert s["dead_channels"] == [3] and len(s["mean"]) == len(s["std"]) == 8
    assert s["mean"][3] == pytest.approx(0.25) and s["rms"] > 0


def test_structure_stats_on_hand_made_molecules():
    oh = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    # water plus a hydrogen 5 A away: two fragments, one orphan hydrogen
    mols = [(np.array([8, 1, 1]), oh), (np.array([8, 1, 1, 1]), np.vstack([oh, [[5.0, 0, 0]]])),
            (np.array([6]), np.array([[np.nan, 0, 0]]))]
    st = dg.structure_stats(mols)
    assert st["skipped"] == 1 and st["fragments"].tolist() == [1, 2]
    assert st["h_orphan_fraction"] == pytest.approx(1 / 5)
    assert len(st["bond_lengths"]["O-H"]) == 4 and len(st["bond_lengths"]["C-H"]) == 0
    summary = dg.summarise_structure(st)
    assert summary["bonds"]["O-H"]["median"] == pytest.approx(0.96, abs=0.01)
    assert summary["bonds"]["C-C"]["n"] == 0 and summary["bonds"]["C-C"]["iqr"] is None
    assert summary["fragments"] == {"1": 0.5, "2": 0.5, "3": 0.0, "4+": 0.0}
    json.dumps(dg._jsonable(summary), allow_nan=False)


def test_cli_quick_end_to_end(tmp_path, capsys):
    save_model(tmp_path / "m", tiny_model())
    out = tmp_path / "diag"
    assert dg.main(["--model", str(tmp_path / "m"), "--quick", "--n", "3", "--samples", "3", "--steps", "2", "--xtb-n", "2",
                    "--times", "1,0.5,0", "--out", str(out)]) == 0
    for f in ("results.json", "results.md", "machine.json", "partial_denoising.png", "decoder_sensitivity.png",
              "structure.png"):
        assert (out / f).exists(), f
    res = json.loads((out / "results.json").read_text())
    assert [r["t"] for r in res["partial_denoising"]] == [1.0, 0.5, 0.0]
    assert all("xtb/n" in r and r["xtb/n"] <= 2 for r in res["partial_denoising"])   # the curve's physics
    assert res["generation"]["samples"]["n"] == 3 and "edm/mol_stability" in res["generation"]["samples"]
    assert "[diagnose] 1/6 partial denoising" in capsys.readouterr().out
    assert dg.main(["--model", str(tmp_path / "m"), "--times", "0.5,2", "--out", str(out)]) == 2


def test_failure_classes_on_hand_made_molecules():
    from unite_mol.metrics import edm_stability
    from unite_mol.molecule import Molecule

    def cls(numbers, pos):
        orders, stable = edm_stability(Molecule(np.array(numbers), np.array(pos, dtype=float)))
        return dg.failure_class(np.array(numbers), orders, stable)

    ethylene = [[0.0, 0.0, 0.0], [1.33, 0.0, 0.0]] + [[-0.56, 0.93, 0], [-0.56, -0.93, 0], [1.89, 0.93, 0], [1.89, -0.93, 0]]
    assert cls([6, 6, 1, 1, 1, 1], ethylene) == "stable"
    # the C=C stretched to a single-bond length: every atom sits right, only the order is lost
    stretched = [list(p) for p in ethylene]
    for p in stretched[1:2] + stretched[4:]:
        p[0] += 0.2
    assert cls([6, 6, 1, 1, 1, 1], stretched) == "orders only"
    # methyl radical CH3: an odd valence sum, no coordinates can fix it
    ch3 = [[0, 0, 0], [1.09, 0, 0], [-0.545, 0.944, 0], [-0.545, -0.944, 0]]
    assert cls([6, 1, 1, 1], ch3) == "composition"
    # CH4's atoms with one hydrogen pulled 3 A away: CH4 exists, this connectivity does not fit it
    ch4_torn = [[0, 0, 0], [1.09, 0, 0], [-0.36, 1.03, 0], [-0.36, -0.51, 0.89], [-1.5, -2.0, -3.0]]
    assert cls([6, 1, 1, 1, 1], ch4_torn) == "connectivity"
    assert dg.composition_feasible(np.array([6, 1, 1, 1, 1])) and not dg.composition_feasible(np.array([7, 1, 1]))
    assert dg.composition_feasible(np.array([7, 1, 1, 1])) and not dg.composition_feasible(np.array([1, 1, 1]))
    # a pentavalent carbon's pairs admit no orders; benzene's ring admits alternating ones
    assert not dg.orders_fit(np.array([6, 1, 1, 1, 1, 1]), np.pad(np.ones((1, 5), bool), ((0, 5), (1, 0))) | np.pad(np.ones((5, 1), bool), ((1, 0), (0, 5))))
    ring = np.zeros((12, 12), bool)
    for i in range(6):
        ring[i, (i + 1) % 6] = ring[(i + 1) % 6, i] = True
        ring[i, 6 + i] = ring[6 + i, i] = True
    assert dg.orders_fit(np.array([6] * 6 + [1] * 6), ring)


def test_bench_partial_relaxes_each_time_and_writes_its_table(tmp_path, capsys):
    from unite_mol.bench import partial

    save_model(tmp_path / "m", tiny_model())
    out = tmp_path / "partial"
    assert partial.main([f"tiny={tmp_path / 'm'}", "--times", "1,0.5", "--n", "3", "--xtb-n", "2", "--steps", "2",
                         "--workers", "1", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    rows = res["models"]["tiny"]["rows"]
    assert [r["t"] for r in rows] == [1.0, 0.5] and all(r["xtb/n"] <= 2 for r in rows)
    assert "| tiny | 1.00 |" in (out / "results.md").read_text()
    assert partial.main([f"tiny={tmp_path / 'm'}", "--times", "1.5"]) == 2
