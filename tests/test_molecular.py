"""The molecule adapter and generation: overfitting, invariances, seeds, model files."""

import json
import time

import numpy as np
import pytest
import torch

from helpers import qm9_batch, tiny_model
from unite_mol import Molecule
from unite_mol.core import UniteConfig, unite_loss
from unite_mol.data import MolBatch, random_rotations, rotate
from unite_mol.geometry import kabsch_rmsd
from unite_mol.generation import generate, generate_arrays, load_model, save_model
from unite_mol.molecular import MoleculeConfig


def test_overfits_a_handful_of_qm9_molecules():
    model = tiny_model(trained_like=False)
    batch = qm9_batch(range(8))
    steps = 900
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
    g = torch.Generator().manual_seed(0)
    cfg = UniteConfig(decoder_noise_prob=0.0, flow_copies=1)
    t0 = time.time()
    for _ in range(steps):
        loss, _ = unite_loss(model, batch, g, cfg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        z, mask = model.encode(batch, generator=torch.Generator().manual_seed(1))
        decoded = model.adapter.to_arrays(model.decode(z, mask), mask)
    rmsds = []
    for (zs, xs), ref in zip(decoded, batch.molecules()):
        assert np.array_equal(zs, ref.numbers)
        rmsds.append(kabsch_rmsd(xs, ref.positions))
    print(f"overfit: {time.time() - t0:.0f} s, RMSD max {max(rmsds):.4f} A, mean {np.mean(rmsds):.4f} A")
    assert max(rmsds) < 0.05


def test_unknown_element_and_too_many_atoms_are_named():
    model = tiny_model()
    b = qm9_batch(range(2))
    bad = MolBatch(b.numbers.clone(), b.positions, b.mask)
    bad.numbers[0, 0] = 16  # sulfur: not in the QM9 vocabulary
    with pytest.raises(ValueError, match=r"unknown element S \(Z=16\)"):
        model.adapter.embed(bad)
    with pytest.raises(ValueError, match="supports 1..27"):
        generate_arrays(model, 1, num_atoms=40)


def test_descriptors_are_rotation_invariant_and_see_reflections():
    model = tiny_model()
    b = qm9_batch(range(6))
    ids = model.adapter.element_tokens(b.numbers, b.mask)
    d = model.adapter.descriptors
    c = d.channels
    with torch.no_grad():
        a = d.invariants(ids, b.positions, b.mask)
        r = d.invariants(ids, rotate(b, random_rotations(6, generator=torch.Generator().manual_seed(0))).positions, b.mask)
        m = d.invariants(ids, -b.positions, b.mask)
    scale = a.abs().amax(dim=(0, 1))                       # per feature
    assert ((a - r).abs().amax(dim=(0, 1)) <= 1e-4 * scale + 1e-7).all()
    # under a reflection the scalars and power spectra stay, the pseudoscalars change sign
    assert ((a[..., : 3 * c] - m[..., : 3 * c]).abs().amax(dim=(0, 1)) <= 1e-4 * scale[: 3 * c] + 1e-7).all()
    torch.testing.assert_close(m[..., 3 * c:], -a[..., 3 * c:], atol=1e-7, rtol=1e-4)
    assert a[..., 3 * c:].abs().max() > 0


def test_generation_is_seeded_and_independent_of_batch_size():
    model = tiny_model().eval()
    a = generate_arrays(model, 7, seed=3, sampler=dict(steps=4, batch_size=7, precision="fp32"))
    b = generate_arrays(model, 7, seed=3, sampler=dict(steps=4, batch_size=2, precision="fp32"))
    c = generate_arrays(model, 7, seed=4, sampler=dict(steps=4, batch_size=7, precision="fp32"))
    for (za, xa), (zb, xb) in zip(a, b):
        assert np.array_equal(za, zb)
        np.testing.assert_allclose(xa, xb, atol=1e-4)
    assert any(len(x1) != len(x2) or not np.allclose(x1, x2) for (_, x1), (_, x2) in zip(a, c))
    # sample i is the same whether 3 or 7 are drawn
    first = generate_arrays(model, 3, seed=3, sampler=dict(steps=4, precision="fp32"))
    for (za, xa), (zf, xf) in zip(a[:3], first):
        assert np.array_equal(za, zf)
        np.testing.assert_allclose(xa, xf, atol=1e-4)


def test_stochastic_sampling_and_temperature_are_seeded_per_sample():
    model = tiny_model().eval()
    S = dict(steps=4, precision="fp32", method="stochastic", noise_level=0.5)
    a = generate_arrays(model, 5, seed=3, sampler=dict(S, batch_size=5))
    b = generate_arrays(model, 5, seed=3, sampler=dict(S, batch_size=2))       # fresh noise of sample i comes from (seed, i) alone
    for (za, xa), (zb, xb) in zip(a, b):
        assert np.array_equal(za, zb)
        np.testing.assert_allclose(xa, xb, atol=1e-4)
    ode = generate_arrays(model, 5, seed=3, sampler=dict(steps=4, precision="fp32", method="euler"))
    assert any(not np.allclose(x1, x2, atol=1e-3) for (_, x1), (_, x2) in zip(a, ode))
    # temperature scales the starting noise: same atom counts, other molecules
    cold = generate_arrays(model, 5, seed=3, sampler=dict(steps=4, precision="fp32", temperature=0.5))
    assert [len(z) for z, _ in cold] == [len(z) for z, _ in ode]
    assert any(not np.allclose(x1, x2, atol=1e-3) for (_, x1), (_, x2) in zip(cold, ode))
    # generate()'s default is the stochastic sampler; the deterministic ones default to no noise
    default = generate(2, model=model, seed=3, bonds=None, progress=False, sampler=dict(steps=4, precision="fp32"))
    assert default[0].properties["sampler"] == "stochastic, 4 steps, noise level 256"
    heun = generate(2, model=model, seed=3, bonds=None, progress=False, sampler=dict(steps=4, precision="fp32", method="heun"))
    assert heun[0].properties["sampler"] == "heun, 4 steps"
    for bad, match in [(dict(temperature=0.0), r"temperature must be a finite number in \(0, 4\]"),
                       (dict(method="heun", noise_level=0.3), "needs method='stochastic'"),
                       (dict(method="stochastic", noise_level=float("nan")), "noise_level must be"),
                       (dict(method="rk4"), "method must be one of")]:
        with pytest.raises(ValueError, match=match):
            generate(2, model=model, sampler=bad)


def test_bf16_sampling_stays_close_to_fp32():
    model = tiny_model().eval()
    a = generate_arrays(model, 4, seed=0, sampler=dict(steps=4, precision="fp32"))
    b = generate_arrays(model, 4, seed=0, sampler=dict(steps=4, precision="bf16"))
    for (za, xa), (zb, xb) in zip(a, b):
        assert len(za) == len(zb)
        assert np.abs(xa - xb).max() < 0.2  # bf16 denoiser passes, fp32 decoder
    with pytest.raises(ValueError, match="precision"):
        generate_arrays(model, 1, sampler=dict(precision="fp16"))


def test_generate_returns_molecules_with_bonds():
    model = tiny_model().eval()
    mols = generate(3, seed=0, model=model, bonds="edm", num_atoms=[5, 9, 12], sampler=dict(steps=3))
    assert [m.num_atoms for m in mols] == [5, 9, 12]
    assert all(isinstance(m, Molecule) and m.bonds is not None for m in mols)
    assert mols[1].properties["sample_index"] == 1


def test_model_file_round_trip(tmp_path):
    model = tiny_model().eval()
    pt, js = save_model(tmp_path / "m", model, extra={"note": "test"})
    loaded = load_model(tmp_path / "m")
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert json.loads(js.read_text())["note"] == "test"
    assert torch.load(pt, weights_only=True)  # plain state_dict
    x = generate_arrays(model, 2, seed=1, sampler=dict(steps=3, precision="fp32"))
    y = generate_arrays(loaded, 2, seed=1, sampler=dict(steps=3, precision="fp32"))
    for (za, xa), (zb, xb) in zip(x, y):
        assert np.array_equal(za, zb) and np.allclose(xa, xb)
    assert not list(tmp_path.glob("*.tmp"))


def test_mismatched_and_corrupt_model_files_raise(tmp_path):
    model = tiny_model()
    save_model(tmp_path / "m", model)
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["ge_config"]["width"] = 128
    (tmp_path / "wide.json").write_text(json.dumps(meta))
    (tmp_path / "wide.pt").write_bytes((tmp_path / "m.pt").read_bytes())
    with pytest.raises(ValueError, match=r"wide\.json was edited after saving"):   # issue 28: said before building
        load_model(tmp_path / "wide")
    from unite_mol.model_files import config_digest

    meta["config_sha256"] = config_digest(meta)    # a consistent sidecar of another size: the weights do not fit
    (tmp_path / "wide.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match the model configuration: .*shape mismatch"):
        load_model(tmp_path / "wide")
    (tmp_path / "bad.json").write_text((tmp_path / "m.json").read_text())
    (tmp_path / "bad.pt").write_bytes((tmp_path / "m.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt or not a state_dict"):
        load_model(tmp_path / "bad")
    (tmp_path / "x.json").write_text('{"format": "something"}')
    (tmp_path / "x.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="not a unite_mol molecule model"):
        load_model(tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing")
    with pytest.raises(ValueError, match="unknown MoleculeConfig fields"):
        MoleculeConfig.from_dict({"elemnts": [1]})
    with pytest.raises(ValueError, match="unknown element"):
        MoleculeConfig(elements=(1, 500))


def test_kabsch_rmsd_removes_rotation_but_not_reflection():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 3))
    r = random_rotations(1, generator=torch.Generator().manual_seed(2))[0].double().numpy()
    assert kabsch_rmsd(a @ r.T + 3.0, a) < 1e-6  # r is float32-accurate
    assert kabsch_rmsd(-a, a) > 0.1          # a mirror image is not superposable by a proper rotation
    with pytest.raises(ValueError, match="same shape"):
        kabsch_rmsd(a, a[:5])


def test_half_precision_model_file_loads_as_float32(tmp_path):
    model = tiny_model().eval()
    pt, _ = save_model(tmp_path / "h", model, storage_dtype="float16")
    full, _ = save_model(tmp_path / "f", model)
    assert pt.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(tmp_path / "h")
    for k, v in model.state_dict().items():
        w = loaded.state_dict()[k]
        assert w.dtype == v.dtype
        torch.testing.assert_close(w, v, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="storage_dtype"):
        save_model(tmp_path / "x", model, storage_dtype="int8")
