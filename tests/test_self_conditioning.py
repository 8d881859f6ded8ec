"""The denoiser's extra inputs: self-conditioning on its previous estimate and distance feedback
(pair features of the decoded estimate biasing the GE's attention; true distances in the tokenization pass)."""

import numpy as np
import pytest
import torch

from helpers import qm9_batch, tiny_model
from unite_mol.core import UniteConfig
from unite_mol.core.unite import denoise_for_loss, unite_terms
from unite_mol.data import random_rotations
from unite_mol.generation import generate, save_model
from unite_mol.sampling import Sampler


def reading_model(*, self_cond=True, pair_features=6, seed=0):
    """A tiny model whose new inputs carry small random weights (at their zero start they are silent)."""
    model = tiny_model(seed=seed, self_cond=self_cond, pair_features=pair_features)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".sc_in." in name or ".pair_bias." in name:
                p.normal_(0, 0.3)
    return model.eval()


def latents(model, rows=range(4)):
    batch = qm9_batch(rows)
    z, mask = model.encode(batch, generator=torch.Generator().manual_seed(0))
    return batch, z.detach(), mask


def test_new_inputs_start_silent():
    model = tiny_model(self_cond=True, pair_features=6).eval()
    base = tiny_model(self_cond=False, pair_features=0).eval()
    base.load_state_dict({k: v for k, v in model.state_dict().items()
                          if ".sc_in." not in k and ".pair_bias." not in k})
    batch, z, mask = latents(model)
    z_base, _ = base.encode(batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, z_base)          # the tokenization pass's true-distance bias starts at zero
    t = torch.full((len(z),), 0.4)
    zt = 0.4 * z + 0.6 * torch.randn(z.shape, generator=torch.Generator().manual_seed(1)) * mask.unsqueeze(-1)
    assert torch.equal(model.denoise(zt, t, mask, estimate=z), base.denoise(zt, t, mask))


def test_the_estimate_changes_the_prediction_once_trained():
    model = reading_model()
    _, z, mask = latents(model)
    t = torch.full((len(z),), 0.4)
    zt = 0.4 * z
    with torch.no_grad():
        a = model.denoise(zt, t, mask)
        b = model.denoise(zt, t, mask, estimate=z)
        # keep=False rows read no estimate, exactly as without one
        keep = torch.tensor([True, False, True, False])
        c = model.denoise(zt, t, mask, estimate=z, keep=keep)
    assert (a - b).abs().max() > 1e-3
    assert torch.allclose(c[~keep], a[~keep], atol=1e-6) and torch.allclose(c[keep], b[keep], atol=1e-6)


def test_denoising_with_an_estimate_is_equivariant_to_atom_order_and_invariant_to_rotation():
    model = reading_model()
    batch, z, mask = latents(model, rows=[3])         # one molecule, no padding
    n = int(mask.sum())
    t = torch.full((1,), 0.6)
    zt = 0.6 * z + 0.4 * torch.randn(z.shape, generator=torch.Generator().manual_seed(2))
    est = z + 0.05 * torch.randn(z.shape, generator=torch.Generator().manual_seed(3))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model.denoise(zt, t, mask, estimate=est)
        out_p = model.denoise(zt[:, perm], t, mask, estimate=est[:, perm])
    assert torch.allclose(out[:, perm], out_p, atol=1e-5)
    # the pair features of a geometry do not depend on its orientation or position
    rot = random_rotations(1, generator=torch.Generator().manual_seed(5))
    x = batch.positions
    x2 = torch.einsum("bnj,bij->bni", x, rot) + torch.tensor([1.0, -2.0, 0.5])
    g1, g2 = model.adapter.pair_geometry(x, mask), model.adapter.pair_geometry(x2, mask)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_nothing_leaks_through_padding():
    model = reading_model()
    _, z, mask = latents(model, rows=[5])
    n = int(mask.sum())
    t = torch.full((1,), 0.5)
    zt = 0.5 * z
    est = z.clone()
    pad = 4
    rnd = torch.Generator().manual_seed(6)
    zt_p = torch.cat([zt, 10 * torch.randn(1, pad, z.shape[-1], generator=rnd)], 1)
    est_p = torch.cat([est, 10 * torch.randn(1, pad, z.shape[-1], generator=rnd)], 1)
    mask_p = torch.cat([mask, torch.zeros(1, pad, dtype=torch.bool)], 1)
    with torch.no_grad():
        a = model.denoise(zt, t, mask, estimate=est)
        b = model.denoise(zt_p, t, mask_p, estimate=est_p)
    assert torch.allclose(a, b[:, :n], atol=1e-5)
    assert torch.all(b[:, n:] == 0)
    g = model.adapter.feedback(torch.randn(1, n + pad, model.config.decoder_width, generator=rnd), mask_p)
    assert torch.all(g[:, n:] == 0) and torch.all(g[:, :, n:] == 0)


def test_flow_loss_trains_the_new_inputs_but_not_the_decoder_through_the_feedback():
    model = reading_model().train()
    batch = qm9_batch(range(6))
    cfg = UniteConfig(flow_copies=2, self_cond_prob=1.0)
    terms = unite_terms(model, batch, torch.Generator().manual_seed(0), cfg)
    model.zero_grad()
    terms["flow"].backward()
    grads = {name: (p.grad is not None and bool(p.grad.abs().sum() > 0)) for name, p in model.named_parameters()}
    assert grads["ge.sc_in.weight"] and grads["ge.pair_bias.0.weight"]
    # stop-gradient: the flow loss reaches neither the decoder (the feedback is read without gradient)
    # nor the adapter's heads and embeddings
    assert not any(v for k, v in grads.items() if k.startswith("decoder.") or k.startswith("adapter."))


def test_self_cond_prob_decides_which_rows_read_an_estimate():
    model = reading_model()
    _, z, mask = latents(model)
    t = torch.full((len(z),), 0.3)
    zt = 0.3 * z
    with torch.no_grad():
        none = denoise_for_loss(model, zt, t, mask, None, torch.Generator().manual_seed(0), 0.0)
        plain = model.denoise(zt, t, mask)
        every = denoise_for_loss(model, zt, t, mask, None, torch.Generator().manual_seed(0), 1.0)
        own = model.denoise(zt, t, mask, estimate=plain)
    assert torch.equal(none, plain)
    assert torch.allclose(every, own, atol=1e-6)


def test_sampling_feeds_the_previous_prediction_and_is_deterministic(tmp_path):
    model = reading_model()
    _, z, mask = latents(model, rows=range(2))
    f = model.sampling_denoiser(mask)
    t = torch.full((2,), 0.2)
    with torch.no_grad():
        first = f(z, t)
        second = f(z, t)
    assert torch.equal(first, model.denoise(z, t, mask))            # no estimate at the first call
    assert torch.allclose(second, model.denoise(z, t, mask, estimate=first), atol=1e-6)
    save_model(tmp_path / "m", model)
    a = generate(6, model=str(tmp_path / "m"), seed=3, progress=False, bonds=None, sampler=dict(steps=4))
    b = generate(6, model=str(tmp_path / "m"), seed=3, progress=False, bonds=None, sampler=dict(steps=4))
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))


def test_init_from_adds_silent_inputs_and_the_cli_flags_reach_them(tmp_path):
    from unite_mol.train import build_parser, init_from_saved, lr_multipliers

    model = tiny_model()
    save_model(tmp_path / "m", model)
    new, info = init_from_saved(tmp_path / "m", {}, ge_inputs={"self_cond": True, "pair_features": 4})
    assert info["fresh_modules"] == ["pair_bias", "sc_in"]
    assert new.config.self_cond and new.config.pair_features == 4
    args = build_parser().parse_args(["--run-dir", "x", "--self-cond", "--new-input-lr-mult", "10"])
    assert ("ge.sc_in.", 10.0) in lr_multipliers(args) and args.self_cond
    with pytest.raises(ValueError, match="pair_features"):
        from unite_mol.core import preset

        preset("GE-T", pair_features=-1)


def test_grow_depth_appends_identity_blocks_that_then_learn(tmp_path):
    from unite_mol.train import MolTrainConfig, build_parser, init_from_saved, lr_multipliers

    model = reading_model(pair_features=0)
    save_model(tmp_path / "m", model)
    grown, info = init_from_saved(tmp_path / "m", {}, ge_inputs={"self_cond": True}, grow_depth=2)
    d = model.config.depth
    assert grown.config.depth == d + 2 and info["grow_depth"] == {"from": d, "to": d + 2}
    assert info["fresh_modules"] == [f"ge.blocks.{d}", f"ge.blocks.{d + 1}"]
    grown.eval()
    batch, z, mask = latents(model)
    z_grown, _ = grown.encode(batch, generator=torch.Generator().manual_seed(0))
    t = torch.full((len(z),), 0.4)
    with torch.no_grad():
        assert torch.allclose(z_grown, z, atol=1e-6)                   # the new blocks start as the identity
        assert torch.allclose(grown.denoise(0.4 * z, t, mask, estimate=z), model.denoise(0.4 * z, t, mask, estimate=z),
                              atol=1e-6)
    grown.train()
    out = grown.denoise(0.4 * z, t, mask, estimate=z)
    out.pow(2).sum().backward()
    gate = grown.ge.blocks[d].ada.weight.grad
    assert gate is not None and gate.abs().sum() > 0                    # their adaLN gates get a gradient at once
    args = build_parser().parse_args(["--run-dir", "x", "--init-from", str(tmp_path / "m"), "--grow-depth", "2",
                                      "--new-input-lr-mult", "10"])
    assert (f"ge.blocks.{d + 1}.", 10.0) in lr_multipliers(args) and (f"ge.blocks.{d - 1}.", 10.0) not in lr_multipliers(args)
    with pytest.raises(ValueError, match="needs --init-from"):
        MolTrainConfig(grow_depth=1)


def test_estimate_guidance_extrapolates_from_the_blind_prediction():
    model = reading_model()
    _, z, mask = latents(model, rows=range(2))
    t = torch.full((2,), 0.3)
    with torch.no_grad():
        plain, guided = model.sampling_denoiser(mask), model.sampling_denoiser(mask, estimate_guidance=2.5)
        assert torch.equal(plain(z, t), guided(z, t))                 # no estimate yet: nothing to guide by
        first = model.denoise(z, t, mask)
        read, blind = model.denoise(z, t, mask, estimate=first), model.denoise(z, t, mask)
        second = guided(z, t)
        assert torch.allclose(second, blind + 2.5 * (read - blind), atol=1e-5)
        third = guided(z, t)                                           # the guided prediction is the next estimate
        read = model.denoise(z, t, mask, estimate=second)
        assert torch.allclose(third, blind + 2.5 * (read - blind), atol=1e-5)
    with pytest.raises(ValueError, match="reads its estimate"):
        tiny_model().sampling_denoiser(mask, estimate_guidance=2.0)
    with pytest.raises(ValueError, match="finite"):
        model.sampling_denoiser(mask, estimate_guidance=float("nan"))


def test_estimate_from_this_step_matches_training_and_recycle_reads_twice():
    model = reading_model()
    _, z, mask = latents(model, rows=range(2))
    t = torch.full((2,), 0.3)
    with torch.no_grad():
        fresh = model.sampling_denoiser(mask, estimate_from="this-step")
        for _ in range(2):                                   # every call: blind, then read it (as in training)
            blind = model.denoise(z, t, mask)
            assert torch.allclose(fresh(z, t), model.denoise(z, t, mask, estimate=blind), atol=1e-6)
        free = model.sampling_denoiser(mask, estimate_from="this-step", estimate_guidance=2.0)
        read = model.denoise(z, t, mask, estimate=blind)
        assert torch.allclose(free(z, t), blind + 2.0 * (read - blind), atol=1e-5)
        rec = model.sampling_denoiser(mask, estimate_from="recycle")
        first = rec(z, t)
        assert torch.equal(first, model.denoise(z, t, mask))  # nothing to recycle at the first call
        once = model.denoise(z, t, mask, estimate=first)
        assert torch.allclose(rec(z, t), model.denoise(z, t, mask, estimate=once), atol=1e-6)
    with pytest.raises(ValueError, match="estimate_from"):
        model.sampling_denoiser(mask, estimate_from="next")
    with pytest.raises(ValueError, match="reads its"):
        tiny_model().sampling_denoiser(mask, estimate_from="this-step")
    with pytest.raises(ValueError, match="estimate_from"):
        generate(2, model=model, progress=False, bonds=None, sampler=dict(estimate_from="later"))
    mols = generate(2, model=model, progress=False, bonds=None, sampler=dict(estimate_from="recycle", steps=3))
    assert mols[0].properties["sampler"].endswith("estimate from recycle")


def test_autoguidance_by_the_model_itself_changes_nothing_and_bad_guides_are_refused(tmp_path):
    model = reading_model()
    kw = dict(seed=2, progress=False, bonds=None)
    S = dict(steps=4, precision="fp32")
    base = generate(5, model=model, sampler=S, **kw)
    same = generate(5, model=model, sampler=Sampler(model, dict(S, guidance=3.0, guidance_interval=(0.0, 1.0)), guide=model), **kw)
    assert all(np.allclose(a.positions, b.positions, atol=1e-5) for a, b in zip(base, same))
    assert same[0].properties["sampler"].endswith("guidance 3")
    assert generate(1, model=model, sampler=Sampler(model, dict(S), guide=model), **kw)[0].properties["sampler"].endswith(
        "guidance 2 for t in [0.5, 1)")                                  # a guide's defaults
    assert "guidance" not in generate(1, model=model, sampler=dict(S, guide="auto"), **kw)[0].properties["sampler"]  # none for this model
    with pytest.raises(ValueError, match="fits only the shipped model"):
        generate(1, model=model, sampler=dict(S, guidance=2.0, guide="auto"), **kw)
    weak = reading_model(seed=1)
    other = generate(5, model=model, sampler=Sampler(model, dict(S, guidance=2.0), guide=weak), **kw)
    assert any(not np.allclose(a.positions, b.positions, atol=1e-3) for a, b in zip(base, other))
    eg = generate(5, model=model, sampler=dict(S, estimate_guidance=2.0), **kw)
    assert any(not np.allclose(a.positions, b.positions, atol=1e-3) for a, b in zip(base, eg))
    with pytest.raises(ValueError, match="needs a guide model"):
        generate(2, model=model, sampler=dict(S, guidance=2.0, guide=None), **kw)
    with pytest.raises(ValueError, match="guidance must be a finite number"):
        generate(2, model=model, sampler=Sampler(model, dict(S, guidance=float("inf")), guide=weak), **kw)
    with pytest.raises(ValueError, match="guidance_interval"):
        generate(2, model=model, sampler=Sampler(model, dict(S, guidance=2.0, guidance_interval=(0.5, 0.2)), guide=weak), **kw)
    early = generate(5, model=model, sampler=Sampler(model, dict(S, guidance=2.0, guidance_interval=(0.0, 0.5)), guide=weak), **kw)
    assert early[0].properties["sampler"].endswith("guidance 2 for t in [0, 0.5)")
    with pytest.raises(ValueError, match="one latent space"):
        generate(2, model=model, sampler=Sampler(model, dict(S, guidance=2.0), guide=tiny_model(latent_dim=4)), **kw)


def test_time_shift_reaches_the_sampler_and_is_checked():
    model = reading_model()
    kw = dict(seed=2, progress=False, bonds=None)
    S = dict(steps=4, precision="fp32")
    base, shifted = generate(3, model=model, sampler=S, **kw), generate(3, model=model, sampler=dict(S, time_shift=2.0), **kw)
    assert any(not np.allclose(a.positions, b.positions, atol=1e-3) for a, b in zip(base, shifted))
    assert shifted[0].properties["sampler"].endswith("time shift 2")
    with pytest.raises(ValueError, match="time_shift"):
        generate(2, model=model, sampler=dict(S, time_shift=0.0), **kw)


def test_lagged_self_conditioning_reads_an_estimate_from_a_noisier_correlated_point():
    from unite_mol.core.unite import lagged_point

    g = torch.Generator().manual_seed(0)
    target = torch.randn(4000, 3, 2, generator=g)
    eps = torch.randn(4000, 3, 2, generator=g)
    mask = torch.ones(4000, 3, dtype=torch.bool)
    mask[:, 2] = False
    eps = eps * mask.unsqueeze(-1)
    t = torch.full((4000,), 0.5)
    z_prev, t_prev = lagged_point(target, eps, t, mask, g, 0.1, 2.0)
    assert torch.allclose(t_prev, torch.full((4000,), 0.4))
    e_prev = (z_prev - 0.4 * target) / 0.6
    c = (0.5 / 0.6) ** 2
    corr = float((e_prev[:, :2] * eps[:, :2]).mean() / eps[:, :2].pow(2).mean())
    assert abs(corr - c) < 0.03 and abs(float(e_prev[:, :2].std()) - 1.0) < 0.03
    assert torch.equal(z_prev[:, 2], 0.4 * target[:, 2])                 # padding gets no noise
    # the flow loss with a lag runs, trains the model, and a lag of 0 leaves the default bit for bit
    model = reading_model(pair_features=0).train()
    batch = qm9_batch(range(4))
    for lag, same in [(0.0, True), (0.05, False)]:
        cfg = UniteConfig(self_cond_prob=1.0, self_cond_lag=lag)
        a = unite_terms(model, batch, torch.Generator().manual_seed(3), cfg)["flow"]
        b = unite_terms(model, batch, torch.Generator().manual_seed(3), UniteConfig(self_cond_prob=1.0))["flow"]
        assert torch.isfinite(a) and (torch.equal(a, b) == same)
    with pytest.raises(ValueError, match="self_cond_lag"):
        UniteConfig(self_cond_lag=1.0)
