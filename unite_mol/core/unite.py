"""The UNITE objective and the model container shared by every domain.

:class:`UniteModel` holds a domain adapter (data embedding in, heads out), the Generative Encoder, the
decoder trunk and, for the "separate weights" ablation, a second GE used only for denoising.

:func:`unite_loss` is one training step's objective (the paper's):

1. tokenization pass: ``z0 = GE(noise, t=0, data, null condition)``;
2. reconstruction: the decoder sees ``z0`` or, for a fraction of the batch, a lightly noised
   ``t z0 + (1 - t) eps`` with ``t ~ U[t_min, 1]`` (decoder noise augmentation);
3. flow: ``k`` denoising copies, each with its own ``t`` and ``eps``, of the target ``z0`` (detached when
   ``stop_grad``), ``x = GE(z_t, t, cond)``, MSE in velocity space;
4. total = reconstruction + ``flow_weight`` * flow.

With ``stop_grad`` the flow loss reaches the weights only through the denoising pass. That pass ends in the
same latent LayerNorm as the tokenization pass, so its gain and bias still take the flow's gradient and shape
the clean latent (a channel whose gain goes to zero is a constant, trivially denoised: two of the shipped QM9
model's eight channels); ``latent_norm_stop_grad`` cuts that path too. With ``flow_weight``
0 (the tokenizer-only ablation) the denoising copies are not run at all: they would add nothing to the loss
or the gradient, only cost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import nn

from unite_mol.core.flow import flow_loss, interpolate, sample_time
from unite_mol.core.model import DecoderTrunk, GEConfig, GenerativeEncoder, check_ranges


@dataclass(frozen=True)
class UniteConfig:
    """Objective settings (the paper's defaults unless noted)."""

    stop_grad: bool = True
    latent_norm_stop_grad: bool = False   # the stop-gradient also covers the latent LayerNorm's gain and bias in the
    #                                       denoising pass (shared weights): they define the clean latent too, and
    #                                       through them the flow loss can shrink a channel to a constant
    shared_weights: bool = True
    flow_copies: int = 2              # denoising copies per reconstruction step (paper: 14; draft: 3)
    flow_weight: float = 1.0
    time_shift: float = 1.0           # paper: 0.5 for 32-dim latents
    time_mean: float = 0.0
    time_std: float = 1.0
    time_uniform_frac: float = 0.0    # fraction of flow times drawn from U[time_uniform_min, 1] instead (clean end)
    time_uniform_min: float = 0.8
    decoder_noise_prob: float = 0.5
    decoder_noise_tmin: float = 0.7
    cond_dropout: float = 0.1         # only when batches carry a condition
    self_cond_prob: float = 0.5       # share of denoising copies given their own estimate (GEs with self_cond / pair_features)
    self_cond_lag: float = 0.0        # > 0: that estimate is made at t - lag from noise correlated as the stochastic
    self_cond_lag_strength: float = 32.0   # sampler of this strength leaves it (the sampler reads the previous step's)

    def __post_init__(self) -> None:
        check_ranges(self, flow_copies=">= 0", flow_weight=">= 0", time_shift="> 0", time_uniform_frac="[0, 1]",
                     time_uniform_min="[0, 1)", decoder_noise_prob="[0, 1]", decoder_noise_tmin="[0, 1]",
                     cond_dropout="[0, 1)", self_cond_prob="[0, 1]", self_cond_lag="[0, 1)",
                     self_cond_lag_strength=">= 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Tokens:
    """What an adapter hands the core: latent-slot mask plus data through one of the GE's two doors."""

    mask: torch.Tensor                          # (B, N) real latent slots
    data_add: torch.Tensor | None = None        # (B, N, W)
    data_prefix: torch.Tensor | None = None     # (B, L, W)
    prefix_mask: torch.Tensor | None = None     # (B, L)
    cond: torch.Tensor | None = None            # (B,) condition ids, None = null
    pair: torch.Tensor | None = None            # (B, N, N, K) slot-pair features (the GE's attention bias door)
    cond_vec: torch.Tensor | None = None        # (B, C) real-valued global condition of the denoising pass
    slot_vec: torch.Tensor | None = None        # (B, N, S) real-valued per-slot condition of the denoising pass


def conditions(cond_vec: torch.Tensor | None = None, slot_vec: torch.Tensor | None = None,
               rows: torch.Tensor | None = None, repeat: int = 1) -> dict[str, torch.Tensor]:
    """Keywords ``cond_vec`` / ``slot_vec`` for the denoising pass, only those given (so denoisers
    without them keep working), optionally restricted to batch ``rows`` or tiled ``repeat`` times."""
    out = {}
    for name, v in (("cond_vec", cond_vec), ("slot_vec", slot_vec)):
        if v is not None:
            v = v if rows is None else v[rows]
            out[name] = v if repeat == 1 else v.repeat(repeat, *([1] * (v.dim() - 1)))
    return out


@runtime_checkable
class Adapter(Protocol):
    """A domain adapter: data -> :class:`Tokens`, decoder hidden states -> outputs and a loss.

    ``config`` is the adapter's frozen config (with ``to_dict()``, saved in model files). An adapter is
    also an ``nn.Module``, so its parameters train and save with the model's. An adapter whose models use
    pair features (``GEConfig.pair_features``) also has ``feedback(h, mask) -> (B, N, N, K)``: the pair
    features of the geometry decoded from decoder hidden states ``h``, and fills ``Tokens.pair`` from the data.
    """

    config: Any

    def embed(self, batch: Any) -> Tokens: ...
    def slot_pos(self, mask: torch.Tensor) -> torch.Tensor | None: ...
    def decoder_pos(self, mask: torch.Tensor) -> torch.Tensor | None: ...
    def heads(self, h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]: ...
    def reconstruction_loss(self, out: dict[str, torch.Tensor], batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...


#: where a sampling step's self-conditioning estimate comes from (:meth:`UniteModel.sampling_denoiser`)
ESTIMATE_FROM = ("previous", "this-step", "recycle")


def check_estimate_from(estimate_from: str) -> None:
    """Raises ValueError unless ``estimate_from`` is one of :data:`ESTIMATE_FROM`."""
    if estimate_from not in ESTIMATE_FROM:
        raise ValueError(f"estimate_from must be one of {', '.join(map(repr, ESTIMATE_FROM))}, got {estimate_from!r}")


class UniteModel(nn.Module):
    """Adapter + Generative Encoder (+ a separate denoiser GE when not shared) + decoder."""

    def __init__(self, adapter: Adapter, config: GEConfig, *, shared_weights: bool = True, vae: bool = False):
        super().__init__()
        if not isinstance(adapter, nn.Module) or not isinstance(adapter, Adapter):
            raise TypeError(f"adapter must be an nn.Module with the Adapter protocol's config and methods, got "
                            f"{type(adapter).__name__}")
        if vae and shared_weights:
            raise ValueError("the two-stage VAE baseline needs separate encoder and denoiser weights")
        self.config = config
        self.adapter: Adapter = adapter
        self.ge = GenerativeEncoder(config)
        self.shared_weights = shared_weights
        self.ge_denoise = None if shared_weights else GenerativeEncoder(config)
        self.decoder = DecoderTrunk(config)
        self.vae = vae
        # two-stage baseline only: posterior log-variance head on the encoder's hidden states
        self.logvar_head = nn.Linear(config.width, config.latent_dim) if vae else None
        if self.logvar_head is not None:
            nn.init.zeros_(self.logvar_head.weight)
            nn.init.constant_(self.logvar_head.bias, -4.0)

    @property
    def denoiser(self) -> GenerativeEncoder:
        return self.ge if self.ge_denoise is None else self.ge_denoise

    def tokenize(self, tokens: Tokens, noise: torch.Tensor, *, return_hidden: bool = False):
        """Tokenization pass: data + noise slots at t = 0, null condition.  -> (B, N, d_z)"""
        t = torch.zeros(noise.shape[0], device=noise.device)
        return self.ge(noise, t, tokens.mask, data_add=tokens.data_add, data_prefix=tokens.data_prefix,
                       prefix_mask=tokens.prefix_mask, pos=self.adapter.slot_pos(tokens.mask),
                       pair=tokens.pair, return_hidden=return_hidden)

    @property
    def reads_estimate(self) -> bool:
        """Whether the denoising pass can read its previous clean-latent estimate (self-conditioning, or
        pair features of the estimate's decoded geometry)."""
        c = self.denoiser.config
        return c.self_cond or c.pair_features > 0

    def denoise(self, z_t: torch.Tensor, t: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor | None = None,
                estimate: torch.Tensor | None = None, keep: torch.Tensor | None = None,
                cond_vec: torch.Tensor | None = None, slot_vec: torch.Tensor | None = None,
                detach_latent_affine: bool = False) -> torch.Tensor:
        """Denoising pass: clean-latent estimate from noisy latents.  -> (B, N, d_z)

        ``estimate`` (B, N, d_z): the previous clean-latent estimate, for a GE that reads one
        (:attr:`reads_estimate`): it enters through the self-conditioning input and, with pair features,
        as the pairwise geometry of its decode (the adapter's ``feedback`` on the decoder's hidden states,
        computed without gradient: the flow loss reaches the weights only through this pass). ``keep``
        (B,) bool: which rows have an estimate; the others get none (zeros), as at the first step.
        ``cond_vec`` (B, C): the real-valued global condition (a GE with ``cond_features``); ``slot_vec``
        (B, N, S): the per-slot one (a GE with ``slot_features``). ``detach_latent_affine``: the latent
        LayerNorm's gain and bias enter without gradient (the same values; shared weights only, as a separate
        denoiser's norm does not define the clean latent).
        """
        cfg = self.denoiser.config
        z_sc = pair = None
        if estimate is not None and self.reads_estimate:
            k = None if keep is None else keep.to(estimate.dtype)                  # (B,)
            if cfg.self_cond:
                z_sc = estimate if k is None else estimate * k[:, None, None]      # (B, N, d_z)
            if cfg.pair_features > 0:
                feedback = getattr(self.adapter, "feedback", None)
                if feedback is None:
                    raise TypeError(f"{type(self.adapter).__name__} has no feedback(h, mask); GEConfig.pair_features "
                                    "needs an adapter that turns decoded estimates into pair features")
                with torch.no_grad():
                    h = self.decoder(estimate, mask, pos=self.adapter.decoder_pos(mask))
                    pair = feedback(h, mask)                                       # (B, N, N, K)
                if k is not None:
                    pair = pair * k.to(pair.dtype)[:, None, None, None]
        return self.denoiser(z_t, t, mask, cond=cond, pos=self.adapter.slot_pos(mask), z_sc=z_sc, pair=pair,
                             detach_latent_affine=detach_latent_affine and self.ge_denoise is None,
                             **conditions(cond_vec, slot_vec))

    def sampling_denoiser(self, mask: torch.Tensor, cond: torch.Tensor | None = None, *,
                          estimate_guidance: float = 1.0, estimate_from: str = "previous",
                          cond_vec: torch.Tensor | None = None, slot_vec: torch.Tensor | None = None,
                          refine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
        """``f(z_t, t) -> x`` for the samplers (every pass with ``cond``, ``cond_vec`` and ``slot_vec``). Make a
        new one per trajectory. ``refine(x, t) -> x``, when given, changes each prediction before it is
        returned (and, for a GE that reads its estimate, before it becomes the next call's estimate).

        For a GE that reads its estimate, ``estimate_from`` says which estimate each call reads:

        - ``"previous"`` (default, one pass per call): the previous call's prediction (none at the first);
        - ``"this-step"`` (two passes): a prediction without an estimate at the same ``z_t, t`` first, as in
          training (:func:`denoise_for_loss`), then the prediction that reads it;
        - ``"recycle"`` (two passes): the previous call's prediction is read once, and the result is read
          again at the same ``z_t, t``.

        ``estimate_guidance`` ``w != 1``: each call that reads an estimate also has (or, with
        ``"previous"`` / ``"recycle"``, makes, one more pass) the prediction without it and returns
        ``x_blind + w (x_read - x_blind)``, a guidance of the model by its own estimate-blind self; the
        returned prediction is the next call's ``"previous"`` estimate.

        Raises:
            ValueError: an unknown ``estimate_from``, ``estimate_guidance`` not a finite number, or either
                away from its default for a GE that reads no estimate.
        """
        w = float(estimate_guidance)
        if not math.isfinite(w):
            raise ValueError(f"estimate_guidance must be a finite number, got {estimate_guidance!r}")
        check_estimate_from(estimate_from)
        kw = conditions(cond_vec, slot_vec)
        if not self.reads_estimate:
            if w != 1.0 or estimate_from != "previous":
                raise ValueError(f"estimate_guidance={w:g} / estimate_from={estimate_from!r} need a GE that reads its "
                                 "estimate (self-conditioning or pair features); this one does not")
            if refine is None:
                return lambda z, t: self.denoise(z, t, mask, cond, **kw)
            return lambda z, t: refine(self.denoise(z, t, mask, cond, **kw), t)
        last: list[torch.Tensor | None] = [None]

        def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            blind = None
            if estimate_from == "this-step":
                blind = self.denoise(z, t, mask, cond, **kw)
                estimate = blind
            elif estimate_from == "recycle" and last[0] is not None:
                estimate = self.denoise(z, t, mask, cond, estimate=last[0], **kw)
            else:
                estimate = last[0]
            x = self.denoise(z, t, mask, cond, estimate=estimate, **kw)
            if w != 1.0 and estimate is not None:
                if blind is None:
                    blind = self.denoise(z, t, mask, cond, **kw)
                x = blind + w * (x - blind)
            if refine is not None:
                x = refine(x, t)
            last[0] = x
            return x

        return f

    def decode(self, z: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.adapter.heads(self.decoder(z, mask, pos=self.adapter.decoder_pos(mask)), mask)

    def encode(self, batch: Any, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents of a batch: (z0 (B, N, d_z), mask (B, N))."""
        tokens = self.adapter.embed(batch)
        noise = torch.randn(*tokens.mask.shape, self.config.latent_dim, generator=generator,
                            device=tokens.mask.device if generator is None else generator.device).to(tokens.mask.device)
        return self.tokenize(tokens, noise * tokens.mask.unsqueeze(-1)), tokens.mask


def randn_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise shaped and typed like ``x``, drawn from ``generator`` on its own device."""
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=torch.float32).to(x)


def _rand(n: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device).to(device)


def flow_times(n: int, generator: torch.Generator, cfg: Any, device) -> torch.Tensor:
    """Training times of the flow loss: logit-normal (``cfg.time_mean``, ``time_std``), shifted by
    ``time_shift``; a ``time_uniform_frac`` of them from U[``time_uniform_min``, 1] instead (the clean end,
    where bond-length precision is made). Shared by UNITE and the two-stage baseline.  -> (n,)"""
    t = sample_time(n, generator=generator, shift=cfg.time_shift, mean=cfg.time_mean, std=cfg.time_std,
                    device=device)                                          # (n,)
    if cfg.time_uniform_frac > 0:
        near = cfg.time_uniform_min + (1 - cfg.time_uniform_min) * _rand(n, generator, device)
        t = torch.where(_rand(n, generator, device) < cfg.time_uniform_frac, near, t)
    return t


def dropped_conditions(cond: torch.Tensor | None, copies: int, generator: torch.Generator, dropout: float,
                       null: int) -> torch.Tensor | None:
    """The batch's condition ids for ``copies`` denoising copies, each replaced by the ``null`` id with
    probability ``dropout`` (classifier-free guidance); None (no condition) stays None.  -> (copies*B,)"""
    if cond is None:
        return None
    cond = cond.repeat(copies)                                              # (kB,)
    drop = _rand(cond.shape[0], generator, cond.device) < dropout           # (kB,)
    return torch.where(drop, torch.full_like(cond, null), cond)


def denoise_for_loss(model: UniteModel, z_t: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
                     cond: torch.Tensor | None, generator: torch.Generator, self_cond_prob: float,
                     estimate_from: tuple[torch.Tensor, torch.Tensor] | None = None,
                     cond_vec: torch.Tensor | None = None, slot_vec: torch.Tensor | None = None,
                     detach_latent_affine: bool = False) -> torch.Tensor:
    """The denoising pass of a flow loss. For a GE that reads its estimate, a ``self_cond_prob`` share of
    the rows first get a gradient-free prediction from the same ``z_t`` (or from ``estimate_from = (z', t')``,
    e.g. a noisier point of the same trajectory, as a sampler's previous step) and then read it
    (self-conditioning); the rest read none, as at a sampler's first step. Shared by UNITE and the
    two-stage baseline.  -> (B, N, d)"""
    kw = conditions(cond_vec, slot_vec)
    if not (model.reads_estimate and self_cond_prob > 0):
        return model.denoise(z_t, t, mask, cond, detach_latent_affine=detach_latent_affine, **kw)
    keep = _rand(z_t.shape[0], generator, z_t.device) < self_cond_prob              # (B,)
    estimate = torch.zeros_like(z_t)                                               # (B, N, d)
    sel = keep.nonzero().squeeze(1)                                                # only those rows pay for it
    if len(sel):
        with torch.no_grad():
            z_e, t_e = (z_t, t) if estimate_from is None else estimate_from
            est = model.denoise(z_e[sel], t_e[sel], mask[sel], None if cond is None else cond[sel],
                                **conditions(cond_vec, slot_vec, rows=sel))
            estimate[sel] = est.to(estimate.dtype)
    return model.denoise(z_t, t, mask, cond, estimate=estimate, keep=keep, detach_latent_affine=detach_latent_affine,
                         **kw)


def lagged_point(target: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
                 generator: torch.Generator, lag: float, strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A noisier point ``(z', t')`` of the trajectory through ``z_t = t target + (1 - t) eps``, where the
    stochastic sampler of strength ``a`` would have made its previous prediction: ``t' = max(t - lag, 0)``,
    noise ``c eps + sqrt(1 - c^2) n`` with ``c = ((1 - t) / (1 - t'))^a`` (the correlation its exact step
    leaves between consecutive steps' noise; padding, ``mask`` (B, N) false, stays zero).  -> ((B, N, d), (B,))"""
    t_prev = (t - lag).clamp(min=0.0)                                                  # (B,)
    c = ((1 - t) / (1 - t_prev)).clamp(max=1.0) ** strength                            # (B,)
    c = c.view(-1, *([1] * (eps.dim() - 1))).to(eps.dtype)
    e_prev = c * eps + torch.sqrt(1 - c * c) * randn_like(eps, generator) * mask.unsqueeze(-1)
    return interpolate(target, e_prev, t_prev), t_prev


def unite_terms(model: UniteModel, batch: Any, generator: torch.Generator, cfg: UniteConfig) -> dict[str, Any]:
    """The objective's parts: ``recon`` and ``flow`` losses, the clean latent ``z0`` and ``logs``."""
    tokens = model.adapter.embed(batch)
    mask = tokens.mask                                                      # (B, N)
    m3 = mask.unsqueeze(-1)                                                 # (B, N, 1)
    b, n = mask.shape
    d = model.config.latent_dim
    dev = mask.device

    noise = randn_like(torch.empty(b, n, d, device=dev), generator) * m3   # (B, N, d)
    z0 = model.tokenize(tokens, noise)                                      # (B, N, d)

    # reconstruction, with decoder noise augmentation on part of the batch
    z_dec = z0
    if cfg.decoder_noise_prob > 0:
        t_dec = cfg.decoder_noise_tmin + (1 - cfg.decoder_noise_tmin) * _rand(b, generator, dev)   # (B,)
        use = _rand(b, generator, dev) < cfg.decoder_noise_prob                                    # (B,)
        t_dec = torch.where(use, t_dec, torch.ones_like(t_dec))
        z_dec = interpolate(z0, randn_like(z0, generator), t_dec) * m3                            # (B, N, d)
    out = model.decode(z_dec, mask)
    rec, logs = model.adapter.reconstruction_loss(out, batch)

    # flow: k denoising copies of the (detached) clean latent; none when the flow loss has no weight
    fl = torch.zeros((), device=dev)
    if cfg.flow_copies > 0 and cfg.flow_weight > 0:
        k = cfg.flow_copies
        target = (z0.detach() if cfg.stop_grad else z0).repeat(k, 1, 1)    # (kB, N, d)
        mk = mask.repeat(k, 1)                                              # (kB, N)
        t = flow_times(k * b, generator, cfg, dev)                          # (kB,)
        eps = randn_like(target, generator) * mk.unsqueeze(-1)             # (kB, N, d)
        z_t = interpolate(target, eps, t)                                   # (kB, N, d)
        cond = dropped_conditions(tokens.cond, k, generator, cfg.cond_dropout, model.ge.null_condition)  # (kB,)
        lagged = None
        if cfg.self_cond_lag > 0 and model.reads_estimate:
            lagged = lagged_point(target, eps, t, mk, generator, cfg.self_cond_lag, cfg.self_cond_lag_strength)
        kw = conditions(tokens.cond_vec, tokens.slot_vec, repeat=k)        # (kB, C), (kB, N, S)
        x_pred = denoise_for_loss(model, z_t, t, mk, cond, generator, cfg.self_cond_prob, lagged,
                                  detach_latent_affine=cfg.latent_norm_stop_grad, **kw)    # (kB, N, d)
        fl = flow_loss(x_pred, target, z_t, t, mk)
        logs["flow"] = float(fl.detach())
    logs["recon"] = float(rec.detach())
    logs["latent_std"] = float(z0.detach()[mask].float().std()) if mask.any() else 0.0
    return {"recon": rec, "flow": fl, "z0": z0, "outputs": out, "logs": logs}


def unite_loss(model: UniteModel, batch: Any, generator: torch.Generator,
               cfg: UniteConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """One step of the UNITE objective: reconstruction + flow_weight * flow; returns (loss, logs)."""
    terms = unite_terms(model, batch, generator, cfg)
    return terms["recon"] + cfg.flow_weight * terms["flow"], terms["logs"]
