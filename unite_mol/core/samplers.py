"""Samplers for the latent flow from t = 0 (noise) to t = 1 (clean): Euler and Heun (ODE), and a
stochastic sampler that re-draws part of the noise at every step.

``denoise(z_t, t) -> x_pred`` is any clean-latent predictor (the GE, with guidance already applied);
the ODE samplers turn it into velocities ``(x - z) / (1 - t)`` and integrate. No time on the grid is 1
where a velocity is evaluated (Heun's last step is a plain Euler step, as in EDM's sampler), so the final
step lands exactly on the last clean-latent prediction.

``"stochastic"``: the SDE with the flow's marginals, ``dz = [v + (g^2 / 2) score] dt + g dW`` with
``g^2 = 2 a (1 - t)`` and ``a = noise_level``. Written with the prediction ``x`` and the noise it leaves,
``e = (z - t x) / (1 - t)``, it keeps ``z = t x + (1 - t) e`` and turns the noise into an
Ornstein-Uhlenbeck process of unit variance, ``de = -a e dt / (1 - t) + sqrt(2 a / (1 - t)) dW``. Each step
holds ``x`` fixed and solves that exactly: ``e <- c e + sqrt(1 - c^2) n`` with ``c = ((1 - t1) / (1 - t0))^a``
and fresh Gaussian noise ``n``, then ``z = t1 x + (1 - t1) e``. So part of the noise is re-drawn at every
step (more where the step is long relative to ``1 - t``), errors of earlier steps are partly forgotten
instead of carried to the end, and no step size or strength makes it unstable. ``a = 0`` is the Euler
sampler (``c = 1``); the last step lands on the prediction (``c = 0`` at ``t1 = 1``).
"""

from __future__ import annotations

import numbers
from typing import Callable

import torch

from unite_mol.core.flow import shift_time, velocity

EXACT = 1e-6  # a guard only: velocities are evaluated at t < 1

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``step_noise(z) -> n``: fresh standard Gaussian noise shaped like ``z`` (the caller owns the randomness)
StepNoise = Callable[[torch.Tensor], torch.Tensor]
METHODS = ("heun", "euler", "stochastic")


def time_grid(steps: int, *, shift: float = 1.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """``steps + 1`` times from 0 to 1, optionally shifted toward noise like the training times."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_time(torch.linspace(0.0, 1.0, steps + 1, device=device), shift)


def check_sampler(method: str, noise_level: float = 0.0) -> None:
    """Check a sampler choice: a known ``method`` and a finite ``noise_level >= 0``, non-zero only for
    ``method="stochastic"``.

    Raises:
        ValueError: naming the argument and what it must be.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if not isinstance(noise_level, numbers.Real) or isinstance(noise_level, bool) \
            or not 0.0 <= noise_level < float("inf"):
        raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level!r}")
    if method != "stochastic" and noise_level > 0:
        raise ValueError(f"noise_level={noise_level} needs method='stochastic' (the {method} sampler is deterministic)")


@torch.no_grad()
def sample(denoise: Denoiser, noise: torch.Tensor, *, steps: int = 50, method: str = "heun",
           shift: float = 1.0, t_start: float = 0.0, noise_level: float = 0.0,
           step_noise: StepNoise | None = None) -> torch.Tensor:
    """Integrate the flow from ``noise`` (t = 0) to a clean latent (t = 1).

    ``t_start > 0`` starts from a partially noised latent ``z_t = t z0 + (1 - t) eps`` at that time
    instead: the (shifted) grid is mapped linearly onto ``[t_start, 1]``. ``method="stochastic"`` re-draws
    part of the noise at every step (strength ``noise_level``) from ``step_noise`` (see the module docstring).

    Raises:
        ValueError: for an unknown method, steps < 1, ``t_start`` outside ``[0, 1)``, ``noise_level``
            negative or not finite, or a stochastic sampler with ``noise_level > 0`` and no ``step_noise``.
    """
    check_sampler(method, noise_level)
    if not 0.0 <= t_start < 1.0:
        raise ValueError(f"t_start must be in [0, 1), got {t_start}")
    if method == "stochastic" and noise_level > 0 and step_noise is None:
        raise ValueError("the stochastic sampler needs step_noise(z) -> fresh noise (randomness is explicit)")
    ts = time_grid(steps, shift=shift, device=noise.device)
    if t_start > 0.0:  # the default grid is left untouched (bit for bit)
        ts = t_start + (1.0 - t_start) * ts
    z = noise
    b = noise.shape[0]
    if method == "stochastic":
        return _stochastic(denoise, z, ts, noise_level, step_noise)
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


def _stochastic(denoise: Denoiser, z: torch.Tensor, ts: torch.Tensor, noise_level: float,
                step_noise: StepNoise | None) -> torch.Tensor:
    b = z.shape[0]
    for i in range(len(ts) - 1):
        t0, t1 = ts[i], ts[i + 1]
        x = denoise(z, t0.expand(b))
        e = (z - t0 * x) / (1 - t0).clamp(min=EXACT)          # the noise the prediction leaves in z
        if noise_level > 0:
            c = ((1 - t1) / (1 - t0).clamp(min=EXACT)) ** noise_level
            e = c * e + torch.sqrt(1 - c * c) * step_noise(z).to(z)
        z = t1 * x + (1 - t1) * e
    return z


def check_interval(interval: tuple[float, float]) -> tuple[float, float]:
    """``(lo, hi)`` of a guidance interval as floats, checked: two times with ``0 <= lo < hi <= 1``.

    Raises:
        ValueError: naming what is wrong.
    """
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"guidance_interval must be two times (lo, hi), got {interval!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"guidance_interval must satisfy 0 <= lo < hi <= 1, got {interval!r}")
    return lo, hi


def guided(denoise_cond: Denoiser, denoise_uncond: Denoiser, scale: float,
           interval: tuple[float, float] = (0.0, 1.0)) -> Denoiser:
    """Guidance on the x-prediction: ``x_u + scale * (x_c - x_u)``; scale 1 = no guidance. Classifier-free
    guidance when ``denoise_uncond`` drops the condition, autoguidance when it is a weaker model.

    ``interval = (lo, hi)``: guide only at times ``lo <= t < hi`` (t = 0 noise, 1 clean); elsewhere
    ``denoise_uncond`` is not called and the prediction is ``denoise_cond``'s.

    Raises:
        ValueError: for an interval that is not ``0 <= lo < hi <= 1``.
    """
    lo, hi = check_interval(interval)
    if scale == 1.0:
        return denoise_cond

    def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xc = denoise_cond(z, t)
        if not lo <= float(t.reshape(-1)[0]) < hi:     # one time per call (every sampler here)
            return xc
        xu = denoise_uncond(z, t)
        return xu + scale * (xc - xu)

    return f
