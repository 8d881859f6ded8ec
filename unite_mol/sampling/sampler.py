"""The sampler: latent noise to finished molecules' arrays, as an object whose methods are the process's steps.

:class:`Sampler` holds a model, its :class:`~unite_mol.sampling.SamplerConfig` resolved against that model
(valence steps, guide) and a :class:`~unite_mol.sampling.Guidance`. :meth:`Sampler.run` draws each sample's
start (:mod:`unite_mol.sampling.draws`), sorts them by size, and integrates them in batches
(:meth:`Sampler.batch`); on a CPU the batches run side by side, one per torch thread
(:func:`unite_mol.runtime.run_batches`), so each batch's arithmetic is that of one thread whatever the
thread count. A batch is one :meth:`~Sampler.trajectory` from noise (the flow integrated by
:func:`unite_mol.core.samplers.sample`, each late prediction nudged by the guidance, the finished latent then
guided by up to ``valence_steps`` steps), then up to ``restarts`` rounds in which the molecules the guidance
does not call done are noised back to ``restart_from`` with fresh noise from their own streams and integrated
again; the decoder gives elements (or keeps the ones the denoiser was told), coordinates and bonds.

In float32 (``precision="fp32"``) the molecules do not depend on the batch size (to float rounding, about
1e-5 A; guidance's stop-when-done decisions can turn such rounding into a different, equally likely molecule
now and then). Under bfloat16 autocast (``"bf16"``, and ``"auto"`` on CUDA or a CPU with native bf16) they
do: the padded batch width changes the rounding of the denoiser's reductions, and the ODE can amplify that
(typically 0.01 A, rarely whole atoms).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from unite_mol.core.samplers import guided, sample
from unite_mol.core.unite import UniteModel
from unite_mol.model_io import DEFAULT_GUIDE, load_model, shipped_sha256
from unite_mol.runtime import progress_callback, resolve_precision, run_batches
from unite_mol.sampling.config import GUIDE_INTERVAL, GUIDE_STRENGTH, HEAD_VALENCE_STEPS, SamplerConfig
from unite_mol.sampling.draws import Start, draw_starts
from unite_mol.sampling.guidance import Guidance, ValenceGuidance, frozen

#: one sample's raw result: atomic numbers (N,), positions (N, 3) in Angstrom, bond rows (M, 3) or None
Sample = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def resolve_valence_steps(model: UniteModel, valence_steps: int | None) -> int:
    """``valence_steps``, or when it is ``None`` :data:`HEAD_VALENCE_STEPS` for a model with a bond head and 0
    for one without.

    Raises:
        ValueError: ``valence_steps > 0`` for a model without a bond head.
    """
    has_head = bool(model.adapter.config.bond_head)
    if valence_steps is None:
        return HEAD_VALENCE_STEPS if has_head else 0
    if valence_steps and not has_head:
        raise ValueError(f"valence_steps={valence_steps} needs a model with a bond head; this one has none")
    return int(valence_steps)


def resolve_guide(model: UniteModel, config: SamplerConfig, guide: UniteModel | None,
                  device: torch.device) -> tuple[UniteModel | None, float, tuple[float, float]]:
    """(guide model or None, strength, interval). ``guide`` (a loaded model) wins over ``config.guide``;
    ``"auto"`` is the shipped guide for the shipped model (same weights) and none for another (a guide must
    denoise the same latent space). Strength and interval ``None``: :data:`GUIDE_STRENGTH` /
    :data:`GUIDE_INTERVAL` with a guide, 1 / (0, 1) without.

    Raises:
        ValueError: a strength other than 1 when ``"auto"`` finds no guide for this model, or a guide whose
            latents differ from the model's.
    """
    if guide is None and config.guide == "auto":
        shipped = (getattr(model, "meta", None) or {}).get("weights_sha256") == shipped_sha256()
        if shipped and DEFAULT_GUIDE.with_suffix(".pt").is_file():
            guide = load_model(DEFAULT_GUIDE, device=device)
        elif config.guidance is not None and config.guidance != 1.0:
            raise ValueError(f"guidance={config.guidance:g} with guide='auto': the shipped guide fits only the shipped "
                             "model; set guide to a weaker model of this model's latent space")
    elif guide is None and config.guide is not None:
        guide = load_model(config.guide, device=device)
    if guide is None:
        if config.guidance is not None and config.guidance != 1.0 and config.guide is None:
            raise ValueError(f"guidance={config.guidance:g} needs a guide model (a weaker model of the same latent "
                             "space): set guide")
        return None, 1.0, (0.0, 1.0)
    if guide.config.latent_dim != model.config.latent_dim:
        raise ValueError(f"the guide model's latents have {guide.config.latent_dim} channels, the model's "
                         f"{model.config.latent_dim}: guidance needs one latent space")
    return (guide.to(device).eval(), GUIDE_STRENGTH if config.guidance is None else config.guidance,
            GUIDE_INTERVAL if config.guidance_interval is None else config.guidance_interval)


@dataclass
class Batch:
    """One batch of samples in flight: their starts, padded latents (B, W, d), mask (B, W), element ids from
    their compositions (B, W; ``None`` for a model not told them) and ``told``, the ids the decoder keeps."""

    starts: list[Start]
    z: torch.Tensor
    mask: torch.Tensor
    ids: torch.Tensor | None
    told: torch.Tensor | None

    @classmethod
    def build(cls, starts: list[Start], model: UniteModel, device: torch.device) -> "Batch":
        width, d = max(s.count for s in starts), starts[0].noise.shape[1]
        z = torch.zeros(len(starts), width, d)
        mask = torch.zeros(len(starts), width, dtype=torch.bool)
        for r, s in enumerate(starts):
            z[r, : s.count] = s.noise
            mask[r, : s.count] = True
        ids = told = None
        if starts[0].composition is not None:   # element ids laid out slot by slot from each composition
            ids = torch.full((len(starts), width), model.adapter.num_elements, dtype=torch.long)
            for r, s in enumerate(starts):
                ids[r, : s.count] = torch.repeat_interleave(torch.arange(len(s.composition)), s.composition)
            ids = ids.to(device)
            told = ids if model.adapter.slot_features else None   # else the decoder's element head decides
        return cls(starts, z.to(device), mask.to(device), ids, told)

    @property
    def width(self) -> int:
        return self.mask.shape[1]

    def step_noise(self, like: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Fresh noise shaped like ``like`` for rows ``rows`` of the batch, from each sample's own stream."""
        fresh = torch.zeros(like.shape)
        for r, row in enumerate(rows.tolist()):
            s = self.starts[row]
            fresh[r, : s.count] = torch.randn(s.count, like.shape[-1], generator=s.generator)
        return fresh.to(like.device)


class Nudges:
    """The guidance's nudges of one trajectory's clean-latent predictions at times ``t >= valence_from``
    (the sampling denoiser's ``refine`` hook): the next step denoises from the nudged estimate. A molecule
    done at one nudge is left alone at the later ones (``benchmarks/qm9/valence`` round 11: the same samples
    to within noise, 4 % less time); the finished latent's steps check it again."""

    def __init__(self, sampler: "Sampler", mask: torch.Tensor, told: torch.Tensor | None):
        self.sampler, self.mask, self.told = sampler, mask, told
        self.settled = torch.zeros(len(mask), dtype=torch.bool, device=mask.device)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if float(t.reshape(-1)[0]) < self.sampler.config.valence_from:
            return x
        act = (~self.settled).nonzero().flatten()
        if not len(act):
            return x
        w = int(self.mask[act].sum(1).max())
        told = None if self.told is None else self.told[act, :w]
        moved, done = self.sampler.guide_latents(self.sampler.guidance.nudge, x[act, :w], self.mask[act, :w], told)
        x = x.clone()
        x[act, :w] = moved.to(x.dtype)
        self.settled[act[done]] = True
        return x


class Sampler:
    """A model and one sampler configuration, ready to draw samples (see the module docstring).

    Args:
        model: a loaded model (its device is where sampling runs).
        config: a :class:`SamplerConfig`, a dict of its fields, a JSON file's path, or ``None`` (defaults).
        guide: a loaded guide model (wins over ``config.guide``, which names one by path or ``"auto"``).
        guidance: the energy guidance (default :class:`ValenceGuidance`); acts when valence steps are on.

    Raises:
        ValueError: for settings this model cannot take (valence steps without a bond head, a guide of
            another latent space).
    """

    def __init__(self, model: UniteModel, config: SamplerConfig | Mapping[str, Any] | str | Path | None = None, *,
                 guide: UniteModel | None = None, guidance: Guidance | None = None):
        if not isinstance(model, UniteModel):
            raise TypeError(f"model must be a loaded UniteModel, got {type(model).__name__}")
        self.model = model
        self.config = SamplerConfig.coerce(config)
        self.device = next(model.parameters()).device
        self.valence_steps = resolve_valence_steps(model, self.config.valence_steps)
        self.guide, self.guide_strength, self.guide_interval = resolve_guide(model, self.config, guide, self.device)
        self.guidance: Guidance = guidance if guidance is not None else ValenceGuidance()
        self.precision = resolve_precision(self.config.precision, self.device)
        self.amp = self.precision == "bf16"

    def describe(self) -> str:
        """The sampler in words, as each molecule records it (``properties["sampler"]``)."""
        c, v = self.config, self.valence_steps
        parts = [f"{c.method}, {c.steps} steps"]
        parts += [f"noise level {c.noise_level:g}"] if c.method == "stochastic" else []
        parts += [f"time shift {c.time_shift:g}"] if c.time_shift != 1.0 else []
        parts += [f"estimate from {c.estimate_from}"] if c.estimate_from != "previous" else []
        parts += [f"estimate guidance {c.estimate_guidance:g}"] if c.estimate_guidance != 1.0 else []
        if self.guide is not None:
            lo, hi = self.guide_interval
            parts += [f"guidance {self.guide_strength:g}" + (f" for t in [{lo:g}, {hi:g})" if (lo, hi) != (0.0, 1.0)
                                                              else "")]
        parts += [f"valence guidance {v} steps"] if v else []
        parts += [f"one valence step per prediction for t >= {c.valence_from:g}"] if v and c.valence_from < 1 else []
        parts += [f"{c.restarts} restart{'s' if c.restarts > 1 else ''} from t = {c.restart_from:g}"] \
            if v and c.restarts else []
        return ", ".join(parts)

    def run(self, n: int, *, seed: int = 0, first_index: int = 0, num_atoms: int | Sequence[int] | None = None,
            formula: str | None = None, num_heavy_atoms: int | None = None,
            progress: bool | Callable[[int], None] = False) -> list[Sample]:
        """Samples ``first_index .. first_index + n - 1`` of ``seed``: (atomic numbers, positions, bond rows or
        ``None`` without a bond head) each. Composition controls: :func:`unite_mol.sampling.draws.draw_starts`.

        Raises:
            ValueError: an atom count the model does not support, or a request no training composition meets.
        """
        starts = draw_starts(self.model, n, seed=seed, first_index=first_index, num_atoms=num_atoms, formula=formula,
                             num_heavy_atoms=num_heavy_atoms, temperature=self.config.temperature)
        order = np.argsort([s.count for s in starts], kind="stable")     # similar sizes together: less padding
        out: list[Sample | None] = [None] * n
        update, bar = progress_callback(progress, n)
        lock = threading.Lock()

        def one(s: int) -> None:
            idx = order[s: s + self.config.batch_size]
            for i, result in zip(idx, self.batch([starts[i] for i in idx])):
                out[i] = result
            if update is not None:
                with lock:
                    update(len(idx))

        try:
            with frozen(self.model):     # once for all workers (guidance wants latent gradients only)
                run_batches(one, reversed(range(0, n, self.config.batch_size)), self.device)   # largest first
        finally:
            if bar is not None:
                bar.close()
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def batch(self, starts: list[Start]) -> list[Sample]:
        """One batch from noise to arrays: a trajectory, then the restarts of molecules not done."""
        b = Batch.build(starts, self.model, self.device)
        c = self.config
        z1 = self.trajectory(b, b.z, torch.arange(len(starts), device=self.device), 0.0, c.steps)
        dec = self.model.decode(z1, b.mask)
        for _ in range(c.restarts if self.valence_steps else 0):
            elements = b.told if b.told is not None else dec["logits"].argmax(-1)
            rows = (~self.guidance.done(self.model, dec, b.mask, elements)).nonzero().flatten()
            if not len(rows):
                break
            back = c.restart_from * z1[rows] + (1 - c.restart_from) * b.step_noise(z1[rows], rows)
            z1[rows] = self.trajectory(b, back, rows, c.restart_from, max(1, round(c.steps * (1 - c.restart_from))))
            dec = self.model.decode(z1, b.mask)
        decoded = self.model.adapter.to_arrays(dec, b.mask, ids=b.told)   # told atoms keep their element
        bonds = self.model.adapter.to_bonds(dec, b.mask) or [None] * len(starts)
        return [(*decoded[r], bonds[r]) for r in range(len(starts))]

    def trajectory(self, b: Batch, z0: torch.Tensor, rows: torch.Tensor, t_start: float, steps: int) -> torch.Tensor:
        """Rows ``rows`` of batch ``b`` from latents ``z0`` at time ``t_start`` to finished, guided latents."""
        c, model = self.config, self.model
        w = int(b.mask[rows].sum(1).max())
        m, z0 = b.mask[rows, :w], z0[:, :w]
        told = None if b.told is None else b.told[rows, :w]
        conds = {} if b.ids is None else model.adapter.conditions(b.ids[rows, :w], m)
        nudges = Nudges(self, m, told) if self.valence_steps and c.valence_from < 1 else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            denoise = model.sampling_denoiser(m, estimate_guidance=c.estimate_guidance, estimate_from=c.estimate_from,
                                              refine=nudges, **conds)
            if self.guide is not None:
                denoise = guided(denoise, self.guide.sampling_denoiser(m), float(self.guide_strength),
                                 interval=self.guide_interval)
            z1 = sample(denoise, z0, steps=steps, method=c.method, shift=c.time_shift, t_start=t_start,
                        noise_level=c.noise_level, step_noise=partial(b.step_noise, rows=rows))
        z1 = z1.float()
        if self.valence_steps:
            z1 = self.guide_latents(partial(self.guidance.descend, steps=self.valence_steps), z1, m, told).to(z1.dtype)
        return F.pad(z1, (0, 0, 0, b.width - w))

    def guide_latents(self, step: Callable[..., Any], x: torch.Tensor, mask: torch.Tensor,
                      told: torch.Tensor | None) -> Any:
        """``step(model, x, mask, elements)`` on clean latents ``x`` in float32, its decoder passes under bfloat16
        autocast when the sampler's are (the energy and the latents stay float32); the elements are the ones
        told, else the decoder's."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            x32 = x.float()
            elements = told if told is not None else self.model.decode(x32, mask)["logits"].argmax(-1)
            return step(self.model, x32, mask, elements)
