"""Rectified flow in latent space, with the GE predicting the clean latent (x-prediction).

Convention (the UNITE paper's): ``z_t = t * z0 + (1 - t) * eps``, ``t = 1`` clean, ``t = 0`` noise. The
velocity is ``v = dz_t/dt = z0 - eps = (z0 - z_t) / (1 - t)``; in the training loss a clean-latent
prediction is turned into a velocity with ``(1 - t)`` clamped at ``T_CLAMP`` (the paper's weighting).
The samplers use the exact ``1 / (1 - t)``: they never evaluate at ``t = 1``, and a clamp there would
stop the last steps short of the prediction.
"""

from __future__ import annotations

import torch

T_CLAMP = 0.05


def interpolate(z0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``z_t = t z0 + (1 - t) eps`` with t (B,) broadcast over tokens and channels."""
    t = t.view(-1, *([1] * (z0.dim() - 1))).to(z0.dtype)
    return t * z0 + (1 - t) * eps


def velocity(x_pred: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor, clamp: float = T_CLAMP) -> torch.Tensor:
    """Velocity implied by a clean-latent prediction: ``(x - z_t) / max(1 - t, clamp)``."""
    one_minus = (1 - t).clamp(min=clamp).view(-1, *([1] * (z_t.dim() - 1))).to(z_t.dtype)
    return (x_pred - z_t) / one_minus


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """``t' = a t / (1 + (a - 1) t)``; ``a < 1`` moves mass toward noise (t = 0)."""
    return shift * t / (1 + (shift - 1) * t)


def sample_time(n: int, *, generator: torch.Generator, shift: float = 1.0, mean: float = 0.0, std: float = 1.0,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Logit-normal(mean, std) times, then the shift.  -> (n,)"""
    u = torch.randn(n, generator=generator, device=generator.device).to(device)
    return shift_time(torch.sigmoid(mean + std * u), shift)


def flow_loss(x_pred: torch.Tensor, z0: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
    """MSE in velocity space over real tokens and channels.  x_pred, z0, z_t: (B, N, C); mask (B, N)."""
    err = (velocity(x_pred, z_t, t) - velocity(z0, z_t, t)).float().pow(2).mean(-1)   # (B, N)
    m = mask.float()
    return (err * m).sum() / m.sum().clamp(min=1)
