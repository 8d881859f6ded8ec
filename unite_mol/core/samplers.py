"""ODE samplers for the latent flow: Euler and Heun from t = 0 (noise) to t = 1 (clean).

``denoise(z_t, t) -> x_pred`` is any clean-latent predictor (the GE, with guidance already applied);
the samplers turn it into velocities ``(x - z) / (1 - t)`` and integrate. No time on the grid is 1 where
a velocity is evaluated (Heun's last step is a plain Euler step, as in EDM's sampler), so the final step
lands exactly on the last clean-latent prediction.
"""

from __future__ import annotations

from typing import Callable

import torch

from unite_mol.core.flow import shift_time, velocity

EXACT = 1e-6  # a guard only: velocities are evaluated at t < 1

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def time_grid(steps: int, *, shift: float = 1.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """``steps + 1`` times from 0 to 1, optionally shifted toward noise like the training times."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_time(torch.linspace(0.0, 1.0, steps + 1, device=device), shift)


@torch.no_grad()
def sample(denoise: Denoiser, noise: torch.Tensor, *, steps: int = 50, method: str = "heun",
           shift: float = 1.0, t_start: float = 0.0) -> torch.Tensor:
    """Integrate the flow from ``noise`` (t = 0) to a clean latent (t = 1).

    ``t_start > 0`` starts from a partially noised latent ``z_t = t z0 + (1 - t) eps`` at that time
    instead: the (shifted) grid is mapped linearly onto ``[t_start, 1]``.

    Raises:
        ValueError: for an unknown method, steps < 1 or ``t_start`` outside ``[0, 1)``.
    """
    if method not in ("euler", "heun"):
        raise ValueError(f"unknown sampler {method!r}; choose 'euler' or 'heun'")
    if not 0.0 <= t_start < 1.0:
        raise ValueError(f"t_start must be in [0, 1), got {t_start}")
    ts = time_grid(steps, shift=shift, device=noise.device)
    if t_start > 0.0:  # the default grid is left untouched (bit for bit)
        ts = t_start + (1.0 - t_start) * ts
    z = noise
    b = noise.shape[0]
    for i in range(steps):
        t0, t1 = ts[i], ts[i + 1]
        tt0 = t0.expand(b)
        v0 = velocity(denoise(z, tt0), z, tt0, clamp=EXACT)
        z_euler = z + (t1 - t0) * v0
        if method == "euler" or i == steps - 1:
            z = z_euler
        else:
            tt1 = t1.expand(b)
            v1 = velocity(denoise(z_euler, tt1), z_euler, tt1, clamp=EXACT)
            z = z + (t1 - t0) * 0.5 * (v0 + v1)
    return z


def guided(denoise_cond: Denoiser, denoise_uncond: Denoiser, scale: float) -> Denoiser:
    """Classifier-free guidance on the x-prediction: ``x_u + scale * (x_c - x_u)``; scale 1 = no guidance."""
    if scale == 1.0:
        return denoise_cond

    def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xc, xu = denoise_cond(z, t), denoise_uncond(z, t)
        return xu + scale * (xc - xu)

    return f
