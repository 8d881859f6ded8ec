"""The two-stage VAE-latent baseline (GeoLDM / ADiT style), on the same core as UNITE.

Stage 1 trains a VAE: the encoder is the GE's tokenization pass, whose output is the posterior mean,
with a log-variance head on its hidden states; latents ``z = mu + sigma * eps`` go through the same
decoder and heads; loss = reconstruction + ``kl_weight`` * KL(q(z|x) || N(0, I)).
Stage 2 freezes the VAE and trains a separate GE (the denoiser) with the rectified-flow loss on
posterior samples, with the batch's conditions (class ids) dropped to the null id at UNITE's rate, and
UNITE's time distribution (:func:`unite_mol.core.unite.flow_times`). Generation is then exactly
UNITE's: integrate the flow with the denoiser, decode. :mod:`unite_mol.core.entry` derives this config
from the UNITE entry's, so both are trained on the same terms.

The model is a :class:`unite_mol.core.UniteModel` with ``shared_weights=False, vae=True``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from unite_mol.core.flow import flow_loss, interpolate
from unite_mol.core.model import check_ranges
from unite_mol.core.unite import Tokens, UniteModel, randn_like, denoise_for_loss, dropped_conditions, flow_times


@dataclass(frozen=True)
class TwoStageConfig:
    kl_weight: float = 1e-3
    flow_copies: int = 2
    time_shift: float = 1.0
    time_mean: float = 0.0
    time_std: float = 1.0
    time_uniform_frac: float = 0.0    # as UniteConfig's: a fraction of flow times from U[time_uniform_min, 1]
    time_uniform_min: float = 0.8
    cond_dropout: float = 0.1         # as UniteConfig's: condition ids dropped to the null id (guidance)
    self_cond_prob: float = 0.5       # as UniteConfig's (only for a denoiser GE that reads its estimate)

    def __post_init__(self) -> None:
        check_ranges(self, kl_weight=">= 0", flow_copies=">= 1", time_shift="> 0", time_uniform_frac="[0, 1]",
                     time_uniform_min="[0, 1)", cond_dropout="[0, 1)", self_cond_prob="[0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)


def _check(model: UniteModel) -> None:
    if not model.vae:
        raise ValueError("the two-stage objective needs a UniteModel built with vae=True")


def posterior(model: UniteModel, batch: Any, generator: torch.Generator, *,
              tokens: Tokens | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encoder posterior: (mu, logvar, mask), each (B, N, d) except mask (B, N); ``tokens``: the batch's
    already embedded tokens (else embedded here)."""
    _check(model)
    tokens = model.adapter.embed(batch) if tokens is None else tokens
    mask = tokens.mask
    noise = torch.randn(*mask.shape, model.config.latent_dim, generator=generator,
                        device=generator.device).to(mask.device) * mask.unsqueeze(-1)
    mu, hidden = model.tokenize(tokens, noise, return_hidden=True)                     # (B, N, d), (B, N, W)
    logvar = model.logvar_head(hidden).clamp(-12.0, 4.0) * mask.unsqueeze(-1)          # (B, N, d)
    return mu, logvar, mask


def vae_loss(model: UniteModel, batch: Any, generator: torch.Generator,
             cfg: TwoStageConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Stage 1: reconstruction from a posterior sample + kl_weight * KL."""
    mu, logvar, mask = posterior(model, batch, generator)
    m = mask.float()
    z = (mu + torch.exp(0.5 * logvar) * randn_like(mu, generator)) * mask.unsqueeze(-1)   # (B, N, d)
    rec, logs = model.adapter.reconstruction_loss(model.decode(z, mask), batch)
    kl_tok = 0.5 * (mu.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(-1)    # (B, N)
    kl = (kl_tok * m).sum() / m.sum().clamp(min=1)
    logs.update(recon=float(rec.detach()), kl=float(kl.detach()), latent_std=float(mu.detach()[mask].float().std()))
    return rec + cfg.kl_weight * kl, logs


def latent_flow_loss(model: UniteModel, batch: Any, generator: torch.Generator,
                     cfg: TwoStageConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Stage 2: flow loss of the denoiser GE on posterior samples of the frozen VAE, conditioned on the
    batch's condition ids (dropped to the null id with probability ``cfg.cond_dropout``), as UNITE's."""
    with torch.no_grad():
        tokens = model.adapter.embed(batch)
        mu, logvar, mask = posterior(model, batch, generator, tokens=tokens)
        z0 = (mu + torch.exp(0.5 * logvar) * randn_like(mu, generator)) * mask.unsqueeze(-1)
    k = cfg.flow_copies
    b = mask.shape[0]
    target = z0.repeat(k, 1, 1)                                                       # (kB, N, d)
    mk = mask.repeat(k, 1)                                                            # (kB, N)
    t = flow_times(k * b, generator, cfg, mask.device)                                # (kB,)
    z_t = interpolate(target, randn_like(target, generator) * mk.unsqueeze(-1), t)   # (kB, N, d)
    cond = dropped_conditions(tokens.cond, k, generator, cfg.cond_dropout, model.denoiser.null_condition)  # (kB,)
    fl = flow_loss(denoise_for_loss(model, z_t, t, mk, cond, generator, cfg.self_cond_prob), target, z_t, t, mk)
    return fl, {"flow": float(fl.detach()), "latent_std": float(z0[mask].float().std())}


def freeze_vae(model: UniteModel) -> None:
    """Stage 2: only the denoiser GE trains."""
    _check(model)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("ge_denoise."))
