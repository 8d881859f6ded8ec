"""The domain-agnostic core: configs, gradients and stop-gradient, sharing, masking, samplers."""

import threading

import pytest
import torch

from helpers import qm9_batch, tiny_model
from unite_mol.core import GEConfig, UniteConfig, preset, sample, unite_terms
from unite_mol.core.flow import interpolate, sample_time, velocity
from unite_mol.data import MolBatch


def grads(loss, params):
    gs = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    return [g is not None and bool(g.abs().sum() > 0) for g in gs]


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="divisible by heads"):
        GEConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        GEConfig(depth=0)
    with pytest.raises(ValueError, match="unknown model preset 'GE-XL'"):
        preset("GE-XL")
    with pytest.raises(ValueError, match="unknown GEConfig fields"):
        GEConfig.from_dict({"width": 64, "wdith": 3})
    with pytest.raises(ValueError, match="flow_copies"):
        UniteConfig(flow_copies=-1)
    with pytest.raises(ValueError, match="decoder_noise_prob"):
        UniteConfig(decoder_noise_prob=1.5)


@pytest.mark.parametrize("kw, message", [
    ({"cond_dropout": 1.0}, r"UniteConfig.cond_dropout must be in \[0, 1\), got 1.0"),  # open end excluded
    ({"time_shift": 0.0}, r"UniteConfig.time_shift must be > 0, got 0.0"),
    ({"flow_weight": float("nan")}, r"UniteConfig.flow_weight must be >= 0, got nan"),     # NaN is out of every range
    ({"time_uniform_min": -0.1}, r"UniteConfig.time_uniform_min must be in \[0, 1\), got -0.1"),
])
def test_config_ranges_name_the_field_and_the_range(kw, message):
    with pytest.raises(ValueError, match=message):
        UniteConfig(**kw)
    UniteConfig(cond_dropout=0.0, self_cond_prob=1.0, time_uniform_min=0.0)  # closed ends are inside


def test_recon_reaches_encoder_and_decoder_flow_stops_at_clean_latent():
    model = tiny_model()
    terms = unite_terms(model, qm9_batch(), torch.Generator().manual_seed(0), UniteConfig(stop_grad=True))
    enc = [model.adapter.elem_embed.weight, model.ge.blocks[0].attn.qkv.weight]
    dec = [model.decoder.blocks[0].mlp.down.weight, model.adapter.coord_head.weight]
    assert all(grads(terms["recon"], enc + dec))
    # the flow loss does not reach the clean latent, nor the data-embedding path that only feeds it
    assert torch.autograd.grad(terms["flow"], terms["z0"], allow_unused=True, retain_graph=True)[0] is None
    assert grads(terms["flow"], [model.adapter.elem_embed.weight, model.adapter.coord_in.weight]) == [False, False]
    # ... but reaches the shared GE weights through the denoising pass, and never the decoder
    assert grads(terms["flow"], [model.ge.blocks[0].attn.qkv.weight, model.ge.time_mlp[0].weight]) == [True, True]
    assert grads(terms["flow"], dec) == [False, False]


def test_without_stop_gradient_flow_reaches_clean_latent_and_data_path():
    model = tiny_model()
    terms = unite_terms(model, qm9_batch(), torch.Generator().manual_seed(0), UniteConfig(stop_grad=False))
    g = torch.autograd.grad(terms["flow"], terms["z0"], allow_unused=True, retain_graph=True)[0]
    assert g is not None and g.abs().sum() > 0
    assert grads(terms["flow"], [model.adapter.elem_embed.weight]) == [True]


def test_latent_norm_stop_grad_keeps_the_flow_off_the_latent_norm_and_changes_no_value():
    # the latent LayerNorm ends both passes: without the switch the flow loss reaches its gain and bias (which
    # define the clean latent too); with it, not, while the GE's blocks still learn and the losses are the same
    out = {}
    for flag in (False, True):
        model = tiny_model()
        ln = model.ge.latent_norm
        terms = unite_terms(model, qm9_batch(), torch.Generator().manual_seed(0),
                            UniteConfig(latent_norm_stop_grad=flag))
        out[flag] = (float(terms["flow"]), float(terms["recon"]))
        assert grads(terms["flow"], [ln.weight, ln.bias]) == [not flag, not flag]
        assert grads(terms["flow"], [model.ge.blocks[0].attn.qkv.weight]) == [True]
        assert grads(terms["recon"], [ln.weight, ln.bias]) == [True, True]   # reconstruction still shapes them
    assert out[False] == out[True]
    # a separate denoiser's own norm does not define the clean latent: it keeps its gradient
    sep = tiny_model(shared_weights=False)
    terms = unite_terms(sep, qm9_batch(), torch.Generator().manual_seed(0), UniteConfig(latent_norm_stop_grad=True))
    assert grads(terms["flow"], [sep.ge_denoise.latent_norm.weight]) == [True]


def test_shared_weights_share_and_separate_weights_separate():
    shared = tiny_model()
    assert shared.denoiser is shared.ge and shared.ge_denoise is None
    assert not any(k.startswith("ge_denoise.") for k in shared.state_dict())
    sep = tiny_model(shared_weights=False)
    n_shared = sum(p.numel() for p in shared.parameters())
    n_ge = sum(p.numel() for p in shared.ge.parameters())
    assert sum(p.numel() for p in sep.parameters()) == n_shared + n_ge
    terms = unite_terms(sep, qm9_batch(), torch.Generator().manual_seed(0), UniteConfig())
    qkv_tok, qkv_den = sep.ge.blocks[0].attn.qkv.weight, sep.ge_denoise.blocks[0].attn.qkv.weight
    assert grads(terms["flow"], [qkv_tok, qkv_den]) == [False, True]
    assert grads(terms["recon"], [qkv_tok, qkv_den]) == [True, False]


def test_latents_equivariant_to_atom_order_and_blind_to_padding():
    model = tiny_model().eval()
    batch = qm9_batch(range(4))
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(*batch.mask.shape, model.config.latent_dim, generator=g) * batch.mask.unsqueeze(-1)
    z = model.tokenize(model.adapter.embed(batch), noise)
    # permute the real atoms of molecule 0 (and its noise): latents permute the same way
    n0 = int(batch.mask[0].sum())
    perm = torch.randperm(n0, generator=g)
    nb, xb, nz = batch.numbers.clone(), batch.positions.clone(), noise.clone()
    nb[0, :n0], xb[0, :n0], nz[0, :n0] = batch.numbers[0, perm], batch.positions[0, perm], noise[0, perm]
    zp = model.tokenize(model.adapter.embed(MolBatch(nb, xb, batch.mask)), nz)
    torch.testing.assert_close(zp[0, :n0], z[0, perm], atol=1e-5, rtol=1e-4)
    # extra padding (with garbage in the padded latent slots) changes nothing
    pad = 7
    padded = MolBatch(torch.nn.functional.pad(batch.numbers, (0, pad)), torch.nn.functional.pad(batch.positions, (0, 0, 0, pad)),
                      torch.nn.functional.pad(batch.mask, (0, pad)))
    pnoise = torch.cat([noise, 100 * torch.randn(noise.shape[0], pad, noise.shape[2], generator=g)], dim=1)
    zpad = model.tokenize(model.adapter.embed(padded), pnoise)
    torch.testing.assert_close(zpad[:, : z.shape[1]], z, atol=1e-5, rtol=1e-4)
    assert torch.all(zpad[:, z.shape[1]:] == 0)
    # denoising pass likewise ignores padding
    t = torch.full((4,), 0.3)
    d0 = model.denoise(noise, t, batch.mask)
    d1 = model.denoise(pnoise, t, padded.mask)
    torch.testing.assert_close(d1[:, : z.shape[1]], d0, atol=1e-5, rtol=1e-4)


def test_interpolant_velocity_and_time_sampling():
    z0, eps = torch.randn(3, 5, 2), torch.randn(3, 5, 2)
    t = torch.tensor([0.0, 0.5, 0.9])
    zt = interpolate(z0, eps, t)
    torch.testing.assert_close(zt[0], eps[0])
    torch.testing.assert_close(velocity(z0, zt, t), z0 - eps)                 # exact where 1 - t >= clamp
    ts = sample_time(20_000, generator=torch.Generator().manual_seed(0), shift=0.5)
    assert 0 < ts.min() and ts.max() < 1
    assert abs(float(ts.median()) - 1 / 3) < 0.02                            # median of shifted logit-normal(0,1)


@pytest.mark.parametrize("method, noise_level", [("euler", 0.0), ("heun", 0.0), ("stochastic", 0.5), ("stochastic", 2.0)])
def test_sampler_integrates_analytic_gaussian_flow(method, noise_level):
    mu, s = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.5])

    def denoise(z, t):  # E[z0 | z_t] for z0 ~ N(mu, s^2), z_t = t z0 + (1 - t) eps
        t = t.view(-1, 1, 1)
        return mu + t * s ** 2 / (t ** 2 * s ** 2 + (1 - t) ** 2) * (z - t * mu)

    noise = torch.randn(20_000, 1, 2, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    z = sample(denoise, noise, steps=50 if method == "heun" else 100, method=method, noise_level=noise_level,
               step_noise=lambda like: torch.randn(like.shape, generator=g))
    torch.testing.assert_close(z.mean(dim=(0, 1)), mu, atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 1)), s, atol=0.03, rtol=0.02)
    with pytest.raises(ValueError, match="method must be one of"):
        sample(denoise, noise, method="rk4")


def test_stochastic_sampler_without_fresh_noise_is_an_euler_step_and_checks_its_arguments():
    def denoise(z, t):  # any smooth predictor
        return torch.tanh(z) * (0.5 + t.view(-1, 1, 1))

    noise = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sample(denoise, noise, steps=7, method="stochastic"),
                               sample(denoise, noise, steps=7, method="euler"), atol=1e-5, rtol=1e-5)
    # fresh noise changes the path, and the last step still lands on the prediction made at the last grid time
    g = torch.Generator().manual_seed(2)
    z = sample(denoise, noise, steps=7, method="stochastic", noise_level=0.7,
               step_noise=lambda like: torch.randn(like.shape, generator=g))
    assert not torch.allclose(z, sample(denoise, noise, steps=7, method="euler"), atol=1e-3)
    # exact on each step's noise part, so a strong re-draw with few steps stays bounded (no explicit-step blow-up)
    big = torch.randn(4000, 3, 2, generator=torch.Generator().manual_seed(3))
    z = sample(lambda z, t: 0.5 * z, big, steps=5, method="stochastic", noise_level=50.0,
               step_noise=lambda like: torch.randn(like.shape, generator=g))
    assert torch.isfinite(z).all() and float(z.abs().max()) < 10
    with pytest.raises(ValueError, match="needs step_noise"):
        sample(denoise, noise, method="stochastic", noise_level=0.5)
    with pytest.raises(ValueError, match="needs method='stochastic'"):
        sample(denoise, noise, method="heun", noise_level=0.5)
    with pytest.raises(ValueError, match="noise_level must be a finite number >= 0"):
        sample(denoise, noise, method="stochastic", noise_level=-0.5, step_noise=torch.randn_like)


def test_two_stage_baseline_trains_the_right_parts():
    from unite_mol.core import TwoStageConfig, freeze_vae, latent_flow_loss, vae_loss

    model = tiny_model(shared_weights=False, vae=True)
    batch, cfg = qm9_batch(), TwoStageConfig()
    enc = [model.ge.blocks[0].attn.qkv.weight, model.logvar_head.weight, model.adapter.elem_embed.weight]
    dec = [model.decoder.blocks[0].mlp.down.weight]
    den = [model.ge_denoise.blocks[0].attn.qkv.weight]
    loss1, logs1 = vae_loss(model, batch, torch.Generator().manual_seed(0), cfg)
    assert grads(loss1, enc + dec + den) == [True, True, True, True, False]
    assert logs1["kl"] > 0
    freeze_vae(model)
    loss2, _ = latent_flow_loss(model, batch, torch.Generator().manual_seed(0), cfg)
    assert [p.requires_grad for p in enc + dec + den] == [False, False, False, False, True]
    assert grads(loss2, den) == [True]
    with pytest.raises(ValueError, match="separate encoder and denoiser"):
        tiny_model(shared_weights=True, vae=True)


def test_fixed_latent_norm_gives_unit_latents_with_no_gain_and_survives_a_round_trip(tmp_path):
    from unite_mol.generation import load_model, save_model
    from unite_mol.train import MolTrainConfig, build_parser

    model = tiny_model(latent_affine=False).eval()
    assert model.ge.latent_norm.weight is None and model.ge.latent_norm.bias is None
    assert tiny_model().ge.latent_norm.weight is not None            # the default keeps its gain and bias
    batch = qm9_batch(range(4))
    noise = torch.randn(*batch.mask.shape, model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    z = model.tokenize(model.adapter.embed(batch), noise * batch.mask.unsqueeze(-1))
    real = z[batch.mask]                                               # (atoms, d_z)
    torch.testing.assert_close(real.mean(-1), torch.zeros(len(real)), atol=1e-5, rtol=0)
    torch.testing.assert_close(real.var(-1, unbiased=False), torch.ones(len(real)), atol=1e-3, rtol=0)
    assert torch.all(z[~batch.mask] == 0)
    save_model(tmp_path / "m", model)
    back = load_model(tmp_path / "m").eval()
    assert back.config.latent_affine is False
    torch.testing.assert_close(back.tokenize(back.adapter.embed(batch), noise * batch.mask.unsqueeze(-1)), z)
    assert build_parser().parse_args(["--run-dir", "x", "--fixed-latent-norm"]).fixed_latent_norm
    with pytest.raises(ValueError, match="cannot be changed when starting from a saved model"):
        MolTrainConfig(init_from=str(tmp_path / "m"), fixed_latent_norm=True)


def test_guidance_acts_only_inside_its_interval_and_skips_the_guide_elsewhere():
    from unite_mol.core.samplers import guided

    calls = []

    def weak(z, t):
        calls.append(float(t[0]))
        return 0.5 * z

    strong = lambda z, t: z                                     # noqa: E731
    f = guided(strong, weak, 3.0, interval=(0.2, 0.6))
    z = torch.ones(2, 3, 4)
    for tv, want in [(0.1, 1.0), (0.2, 0.5 + 3.0 * 0.5), (0.59, 2.0), (0.6, 1.0), (0.9, 1.0)]:
        torch.testing.assert_close(f(z, torch.full((2,), tv)), torch.full_like(z, want))
    assert calls == pytest.approx([0.2, 0.59])                  # the guide ran inside the interval only
    assert guided(strong, weak, 1.0) is strong
    for bad in [(0.5, 0.5), (-0.1, 0.5), (0.2, 1.1)]:
        with pytest.raises(ValueError, match="interval"):
            guided(strong, weak, 2.0, interval=bad)


def test_run_batches_runs_every_batch_and_reraises():
    from unite_mol.runtime import batch_workers, run_batches

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert batch_workers(cpu, 8, threads=2) == (2, 1) and batch_workers(cpu, 3, threads=16) == (3, 5)
    assert batch_workers(cpu, 1, threads=2) == (1, 2) and batch_workers(gpu, 8, threads=2) == (1, 2)
    assert batch_workers(cpu, 8, threads=1) == (1, 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen, lock = [], threading.Lock()

        def fn(s):
            with lock:
                seen.append((s, torch.get_num_threads()))

        run_batches(fn, range(5), cpu)
        assert sorted(s for s, _ in seen) == list(range(5)) and {k for _, k in seen} == {1}
        assert torch.get_num_threads() == 2

        def boom(s):
            if s == 3:
                raise ValueError("batch 3 failed")

        with pytest.raises(ValueError, match="batch 3 failed"):
            run_batches(boom, range(5), cpu)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_machine_record_carries_a_matmul_speed_reference():
    from unite_mol.runtime import machine_info, matmul_gflops

    speed = matmul_gflops(size=128, repeats=1)
    assert speed == speed and 0 < speed < float("inf")
    info = machine_info("python -m unite_mol.bench qm9")
    assert info["command"] == "python -m unite_mol.bench qm9" and info["matmul_gflops_fp32"] > 0
