"""Molecule models on disk, and generation: ``load_model``, ``save_model``, ``generate``.

A saved model is two files side by side: ``NAME.pt``, a plain ``state_dict`` (loads with
``torch.load(weights_only=True)``), and ``NAME.json``, a readable sidecar with everything needed to
rebuild and sample it: the GE config, the molecule config (element vocabulary, coordinate scale,
atom-count histogram), the objective config, package version, git commit and data fingerprint. Loading
never needs the training data. Both files are written atomically, in the format of
:mod:`unite_mol.model_files` (domain ``"molecules"``), which the image models share.

The sidecar (format version 2) also holds ``weights_sha256``, the SHA-256 of the ``.pt`` bytes, and
``config_sha256``, the SHA-256 of the configuration that gives the weights their meaning (GE config,
molecule config with its element list and coordinate scale, weight sharing, storage dtype). Loading
checks both, so flipped bytes in the weights or an edited element list / coordinate scale in the sidecar
are refused, naming the file. Version 1 files (no hashes) still load, with a warning.

Generation draws, for sample ``i``, its atom count and its latent noise from a generator seeded by
``(seed, i)`` only, then integrates the latent flow (Heun or Euler), decodes elements and coordinates,
and perceives bonds. On a CPU the batches run side by side, one per torch thread
(:func:`unite_mol.runtime.run_batches`), so each batch's arithmetic is that of one thread whatever the
thread count. In float32 (``precision="fp32"``) the molecules do not depend on the batch size
(to float rounding, about 1e-5 A; valence guidance's stop-when-valid decisions can turn such rounding into
a different, equally likely molecule now and then). Under bfloat16 autocast (``"bf16"``, and ``"auto"`` on CUDA or a CPU
with native bf16) they do: the padded batch width changes the rounding of the denoiser's reductions, and
the ODE can amplify that (typically 0.01 A, rarely whole atoms). Each molecule records the precision used
in ``properties["precision"]``.
"""

from __future__ import annotations

import numbers
import os
import threading
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unite_mol.core.model import GEConfig
from unite_mol.core.samplers import check_interval, check_sampler, guided, sample
from unite_mol.core.unite import UniteModel, check_estimate_from
from unite_mol.elements import parse_formula, symbol
from unite_mol.molecular import MoleculeAdapter, MoleculeConfig
from unite_mol.molecule import Molecule
from unite_mol.model_files import load_model_files, save_model_files
from unite_mol.refiner import charges_from_bonds
from unite_mol.runtime import PRECISIONS, pick_device, resolve_precision, run_batches

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = PRETRAINED_DIR / "unite-qm9"
#: generate()'s sampler: the stochastic sampler (:mod:`unite_mol.core.samplers`), 75 steps (75 denoiser
#: calls), noise strength 64 (``benchmarks/qm9/sampling``: on the previous model 32 was best of 1-1000 and 75
#: steps beat 50 by 3 points of molecule stability, two seeds each; on the element-conditioned model, round
#: 12, 64 beats 32 by 6.2 and 3.5 points of molecule stability in two seeds, and 128 is no better)
DEFAULT_STEPS = 75
#: molecules integrated together: on a CPU the batches run side by side, one per torch thread
#: (:func:`unite_mol.runtime.run_batches`); two threads, 1,000 samples, no valence guidance: 36-39 s at 64-128
#: against 44-46 s at 256 (and 55 s at 256 one batch after another), ``benchmarks/qm9/valence`` round 6
DEFAULT_BATCH_SIZE = 128
DEFAULT_METHOD = "stochastic"
DEFAULT_NOISE_LEVEL = 64.0
#: the shipped model's sampling guide: the first shipped model (64 CPU-minutes of the same lineage; its
#: tokenizer gives the shipped model's latents to a relative MSE of 7e-4), used by ``guide="auto"`` (opt-in)
DEFAULT_GUIDE = PRETRAINED_DIR / "unite-qm9-guide"
#: autoguidance by it at strength 2 for t >= 0.5 (``benchmarks/qm9/sampling`` round 10, two seeds: EDM
#: valid+connected 66.2 vs 55.0 %, molecule stability 10.7 vs 11.6 %, atom stability 85.7 vs 86.8 %,
#: strictly usable 14.8 vs 14.7 %, at 1.5 times the passes)
DEFAULT_GUIDANCE = 2.0
DEFAULT_GUIDANCE_INTERVAL = (0.5, 1.0)
#: valence guidance (:func:`valence_guidance`): Adam's learning rate and the pull back to the sampled latent
VALENCE_LR = 0.03
VALENCE_ANCHOR = 0.1
VALENCE_TOL = 0.001
#: valence guidance steps on the finished latent by default (a model with a bond head). Alone (rounds 1-5 of
#: ``benchmarks/qm9/valence``, 1,000 samples): 10 steps lift EDM molecule stability to 43.6 / 41.1 % from
#: 33.6 / 32.4 % off (two seeds). With the nudges below (round 6, seed 0) 4 steps do as well as 8
#: (50.3 / 73.1 vs 50.2 / 73.7 % molecule stability / valid+connected) for less time.
DEFAULT_VALENCE_STEPS = 4
#: valence guidance of the sampler's predictions (:func:`valence_nudge`): one step of this size, with this
#: softness, on each prediction at times t >= DEFAULT_VALENCE_FROM (the last 7 of 75 steps). Round 6, 1,000
#: samples, seed 0, with 8 steps on the finished latent: EDM molecule stability / valid+connected 50.2 / 73.7 %
#: against 42.9 / 69.6 % without (seed 1: 49.6 / 70.6 vs 40.2 / 68.2 %); a plain sign step of 0.1 gave
#: 51.6 / 69.7 %, of 0.03 46.8 / 71.4 %; from t >= 0.95 or on every other prediction, less. Guidance
#: decoder passes run in bfloat16 where the sampler does (50.4 / 71.8 % with 4 final steps; 1.3 instead of
#: 1.45 times the unguided time).
VALENCE_NUDGE = 0.1
VALENCE_NUDGE_SOFTNESS = 0.3
DEFAULT_VALENCE_FROM = 0.9
#: restarts (:func:`generate_samples`): how many times a molecule that valence guidance leaves not done goes back
#: to time DEFAULT_RESTART_FROM and is integrated again (``benchmarks/qm9/valence`` round 10)
DEFAULT_RESTARTS = 0
DEFAULT_RESTART_FROM = 0.9


def resolve_valence_steps(model: UniteModel, valence_steps: int | None) -> int:
    """``valence_steps``, or when it is ``None`` :data:`DEFAULT_VALENCE_STEPS` for a model with a bond head
    and 0 for one without.

    Raises:
        ValueError: ``valence_steps > 0`` for a model without a bond head.
    """
    has_head = bool(model.adapter.config.bond_head)
    if valence_steps is None:
        return DEFAULT_VALENCE_STEPS if has_head else 0
    if valence_steps and not has_head:
        raise ValueError(f"valence_steps={valence_steps} needs a model with a bond head; this one has none")
    return int(valence_steps)


def resolve_noise_level(method: str, noise_level: float | None) -> float:
    """``noise_level``, or when it is ``None`` the method's default (:data:`DEFAULT_NOISE_LEVEL` for the
    stochastic sampler, 0 for the deterministic ones)."""
    if noise_level is not None:
        return noise_level
    return DEFAULT_NOISE_LEVEL if method == "stochastic" else 0.0


def build_model(ge_config: GEConfig, mol_config: MoleculeConfig, *, shared_weights: bool = True,
                vae: bool = False) -> UniteModel:
    """A fresh molecule model: UNITE (default), its separate-weights ablation, or the two-stage VAE baseline."""
    adapter = MoleculeAdapter(mol_config, ge_config.width, ge_config.decoder_width,
                              pair_features=ge_config.pair_features, cond_features=ge_config.cond_features,
                              slot_features=ge_config.slot_features)
    return UniteModel(adapter, ge_config, shared_weights=shared_weights, vae=vae)


def save_model(path: str | Path, model: UniteModel, *, extra: dict[str, Any] | None = None,
               storage_dtype: str = "float32") -> tuple[Path, Path]:
    """Write ``path.pt`` (state_dict) and ``path.json`` (sidecar with content hashes) atomically; returns both paths.

    The format is :mod:`unite_mol.model_files`' (domain ``"molecules"``). ``storage_dtype="float16"``
    halves the file (floating-point weights are stored in half precision and cast back to float32 on
    loading); the sidecar records it.

    Raises:
        ValueError: for a storage dtype other than float32 / float16.
    """
    return save_model_files(path, model, domain="molecules", extra=extra, storage_dtype=storage_dtype)


def _build_from_sidecar(ge_config: GEConfig, molecule_config: dict, meta: dict) -> UniteModel:
    return build_model(ge_config, MoleculeConfig.from_dict(molecule_config),
                       shared_weights=bool(meta.get("shared_weights", True)), vae=bool(meta.get("vae", False)))


def load_model(path: str | Path | None = None, *, device: str | torch.device = "cpu") -> UniteModel:
    """Load a saved molecule model (default: the shipped pretrained QM9 model) in eval mode.

    The weights are checked against the SHA-256 in the sidecar and the sidecar's configuration against
    its own recorded digest, so a corrupted ``.pt`` or an edited element list / coordinate scale is
    refused. A format version 1 file (no hashes) loads with a ``UserWarning``.

    Raises:
        FileNotFoundError: if ``path.pt`` or ``path.json`` is missing.
        ValueError: naming the file, if the sidecar is not a unite_mol molecule model (not a JSON object,
            missing entries, bad configs), the weights' hash or the configuration's digest does not
            match, the file is corrupt, or the weights do not match the configuration (the mismatched keys
            are listed); also for a device this machine does not have.
    """
    dev = pick_device(device)
    hint = " (the shipped model is missing from this installation)" if path is None else ""
    model = load_model_files(DEFAULT_MODEL if path is None else path, domain="molecules",
                             build=_build_from_sidecar, hint=hint)
    return model.to(dev)


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The generator of sample ``index`` under ``seed`` (independent of batch size and device count)."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def draw_num_atoms(hist: Sequence[int], generator: torch.Generator) -> int:
    probs = torch.tensor(hist, dtype=torch.float64)
    if probs.sum() <= 0:
        raise ValueError("the model has no atom-count histogram; pass num_atoms")
    return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))


def draw_composition(table: torch.Tensor, generator: torch.Generator, num_atoms: int | None = None) -> torch.Tensor:
    """A composition (count of each element) drawn from a model's ``composition_hist`` rows ``table``
    (R, V + 1) by their frequency, among those with ``num_atoms`` atoms when given.  -> (V,)

    Raises:
        ValueError: when no composition of the data has ``num_atoms`` atoms.
    """
    weight = table[:, -1].double()
    if num_atoms is not None:
        weight = weight * (table[:, :-1].sum(1) == num_atoms)
        if not weight.sum() > 0:
            raise ValueError(f"{num_atoms} atoms requested; this model's training data has no composition of that size")
    return table[int(torch.multinomial(weight, 1, generator=generator)), :-1]


def formula_composition(model: UniteModel, formula: str) -> torch.Tensor:
    """The composition (count of each of the model's elements) of a ``formula`` for a model whose
    denoiser is told the composition or each atom's element.  -> (V,)

    Raises:
        ValueError: for a malformed formula, a model not conditioned on composition, an element the model does
            not know, or more atoms than it supports.
    """
    counts = parse_formula(formula)
    cfg: MoleculeConfig = model.adapter.config
    if not (model.config.cond_features or model.config.slot_features):
        raise ValueError(f"formula={formula!r} needs a model whose denoiser is told the composition (trained with "
                         "--element-cond or --composition-cond); this one decides its elements itself")
    unknown = [symbol(z) for z in counts if z not in cfg.elements]
    if unknown:
        raise ValueError(f"formula {formula!r} has {', '.join(unknown)}, which this model does not know (it knows "
                         f"{', '.join(symbol(z) for z in cfg.elements)})")
    total = sum(counts.values())
    if total > cfg.max_atoms:
        raise ValueError(f"formula {formula!r} has {total} atoms; this model supports at most {cfg.max_atoms}")
    return torch.tensor([counts.get(z, 0) for z in cfg.elements], dtype=torch.long)


def _check_int(name: str, value: Any, low: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_sampling_args(n: int, *, seed: int, num_atoms: Any, steps: int, method: str, batch_size: int,
                        time_shift: float, precision: str, first_index: int = 0, min_n: int = 0,
                        temperature: float = 1.0, noise_level: float = 0.0, formula: str | None = None,
                        valence_steps: int | None = None, valence_from: float = DEFAULT_VALENCE_FROM,
                        restarts: int = DEFAULT_RESTARTS, restart_from: float = DEFAULT_RESTART_FROM) -> None:
    """Validate the sampling arguments shared by :func:`generate` and :func:`generate_samples` (no work done;
    whether the model can take ``formula`` is :func:`formula_composition`'s check).

    Raises:
        ValueError: naming the argument and what it must be.
    """
    if formula is not None:
        parse_formula(formula)
        if num_atoms is not None:
            raise ValueError("pass formula or num_atoms, not both (a formula fixes the atom count)")
    _check_int("n", n, min_n)
    _check_int("seed", seed, 0)
    _check_int("steps", steps, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("first_index", first_index, 0)
    if valence_steps is not None:
        _check_int("valence_steps", valence_steps, 0)
    if not isinstance(valence_from, numbers.Real) or isinstance(valence_from, bool) or not 0.0 <= valence_from <= 1.0:
        raise ValueError(f"valence_from must be a time in [0, 1], got {valence_from!r}")
    _check_int("restarts", restarts, 0)
    if not isinstance(restart_from, numbers.Real) or isinstance(restart_from, bool) or not 0.0 < restart_from < 1.0:
        raise ValueError(f"restart_from must be a time in (0, 1), got {restart_from!r}")
    check_sampler(method, noise_level)
    if not isinstance(temperature, numbers.Real) or isinstance(temperature, bool) or not np.isfinite(temperature) \
            or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    if not isinstance(time_shift, numbers.Real) or isinstance(time_shift, bool) or not np.isfinite(time_shift) \
            or time_shift <= 0:
        raise ValueError(f"time_shift must be a number > 0, got {time_shift!r}")
    if num_atoms is None:
        return
    if isinstance(num_atoms, (int, np.integer)) and not isinstance(num_atoms, (bool, np.bool_)):
        _check_int("num_atoms", num_atoms, 1)
        return
    if isinstance(num_atoms, (str, bytes)) or not isinstance(num_atoms, (Sequence, np.ndarray)):
        raise ValueError(f"num_atoms must be an int or a sequence of ints (one per sample), got "
                         f"{type(num_atoms).__name__}")
    if len(num_atoms) != n:
        raise ValueError(f"num_atoms has {len(num_atoms)} entries for n={n} samples")
    for i, k in enumerate(num_atoms):
        _check_int(f"num_atoms[{i}]", k, 1)


def check_guidance(estimate_guidance: float, guide: Any, guidance: float | None,
                   interval: tuple[float, float] | None = (0.0, 1.0)) -> None:
    """Check the guidance arguments: finite numbers (``guidance`` may be ``None``: the default), a guide
    model whenever ``guidance != 1``, and an ``interval`` ``(lo, hi)`` with ``0 <= lo < hi <= 1`` (or ``None``).

    Raises:
        ValueError: naming the argument.
    """
    named = [("estimate_guidance", estimate_guidance)] + ([("guidance", guidance)] if guidance is not None else [])
    for name, w in named:                                      # guidance None: the default of whatever guide is used
        if not isinstance(w, numbers.Real) or isinstance(w, bool) or not np.isfinite(w):
            raise ValueError(f"{name} must be a finite number, got {w!r}")
    if guidance is not None and guidance != 1.0 and guide is None:
        raise ValueError(f"guidance={guidance:g} needs a guide model (a weaker model of the same latent space)")
    if isinstance(guide, str) and not guide:
        raise ValueError("guide must be 'auto', None, a model or a path, got an empty string")
    if interval is not None:
        check_interval(interval)


def resolve_guide(model: UniteModel, guide: UniteModel | str | Path | None, guidance: float | None,
                  interval: tuple[float, float] | None, device: torch.device) -> tuple[UniteModel | None, float,
                                                                                     tuple[float, float]]:
    """(guide model or None, guidance, interval) for :func:`generate`.

    ``guide="auto"``: the shipped guide (:data:`DEFAULT_GUIDE`) when ``model`` is the shipped model (same
    weights), else none: a guide must denoise the same latent space. ``guidance`` / ``interval`` ``None``:
    :data:`DEFAULT_GUIDANCE` / :data:`DEFAULT_GUIDANCE_INTERVAL` with a guide, 1 / (0, 1) without.

    Raises:
        ValueError: ``guidance != 1`` when ``"auto"`` finds no guide for this model.
    """
    if isinstance(guide, str) and guide == "auto":
        shipped = (getattr(model, "meta", None) or {}).get("weights_sha256") == _shipped_sha256()
        guide = load_model(DEFAULT_GUIDE, device=device) if shipped and DEFAULT_GUIDE.with_suffix(".pt").is_file() \
            else None
        if guide is None and guidance is not None and guidance != 1.0:
            raise ValueError(f"guidance={guidance:g} with guide='auto': the shipped guide fits only the shipped model; "
                             "pass guide= a weaker model of this model's latent space")
    elif guide is not None and not isinstance(guide, UniteModel):
        guide = load_model(guide, device=device)
    elif guide is not None:
        guide = guide.to(device).eval()
    if guide is None:
        return None, 1.0, (0.0, 1.0)
    return (guide, DEFAULT_GUIDANCE if guidance is None else float(guidance),
            DEFAULT_GUIDANCE_INTERVAL if interval is None else tuple(interval))


def _shipped_sha256() -> str | None:
    import json

    try:
        return json.loads(DEFAULT_MODEL.with_suffix(".json").read_text()).get("weights_sha256")
    except (OSError, ValueError):
        return None


def progress_callback(progress: bool | Callable[[int], None], total: int) -> tuple[Callable[[int], Any] | None, Any]:
    """(update(k), bar or None): a tqdm bar on stderr (rate, ETA) unless UNITE_MOL_NO_PROGRESS=1, or the caller's."""
    if callable(progress):
        return progress, None
    if not progress or os.environ.get("UNITE_MOL_NO_PROGRESS") == "1" or total == 0:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="mol", desc="generate", disable=None, dynamic_ncols=True)  # None: off without a tty
    return bar.update, bar


@torch.no_grad()
def generate_arrays(model: UniteModel, n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None,
                    steps: int = DEFAULT_STEPS, method: str = DEFAULT_METHOD, batch_size: int = DEFAULT_BATCH_SIZE,
                    time_shift: float = 1.0, precision: str = "auto", first_index: int = 0,
                    progress: bool | Callable[[int], None] = False, temperature: float = 1.0,
                    noise_level: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Raw samples: a list of (atomic numbers, positions) without bond perception."""
    return [(z, x) for z, x, _ in generate_samples(model, n, seed=seed, num_atoms=num_atoms, steps=steps,
                                                   method=method, batch_size=batch_size, time_shift=time_shift,
                                                   precision=precision, first_index=first_index, progress=progress,
                                                   temperature=temperature, noise_level=noise_level)]


@torch.no_grad()
def valence_guidance(model: UniteModel, z: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor, *, steps: int,
                     lr: float = VALENCE_LR, anchor: float = VALENCE_ANCHOR, tol: float = VALENCE_TOL) -> torch.Tensor:
    """Valence guidance: move finished latents so that the model's own bond head gives every atom its valence.

    Up to ``steps`` Adam steps (learning rate ``lr``) per molecule on :func:`guidance_energy` (the bond head's
    valence error) plus ``anchor`` times the squared distance to
    the sampled latent; a molecule stops as soon as it is done (its most likely bonds are valence-valid and its
    valence error is below ``tol``: :func:`guidance_energy`),
    so a valid sample is returned as it was drawn. Only the latents move: coordinates and elements still come
    from the decoder, nothing from a force field or the data. Each molecule's path depends on its own latent
    alone (its loss is a sum over its atoms and Adam works element by element), not on what else is in the
    batch. The validity check is made on each step's forward pass (no separate pass first).

    z (B, N, d) clean latents, mask (B, N) with each molecule's atoms in its first slots, ids (B, N) element
    ids.  -> (B, N, d) float32
    """
    with frozen(model):         # gradients to the latents only (about 10 % faster)
        return _valence_steps(model, z.detach().float(), mask, ids, steps=steps, lr=lr, anchor=anchor, tol=tol,
                              )


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Within the block, none of ``model``'s parameters requires a gradient; they are restored after."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def guidance_energy(model: UniteModel, z: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor,
                    tol: float = VALENCE_TOL
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Valence guidance's energy per molecule and whether the molecule is done, both (B,).

    The energy is the bond head's valence error (:meth:`MoleculeAdapter.valence_error`). Done: the head's most
    likely bonds give every atom its valence and the valence error is below ``tol``
    (the misfit, measured in windows shrunk by the margin, is under the margin's worth). One decoder pass,
    differentiable in ``z``.
    """
    return _energy(model, model.decode(z, mask), mask, ids, tol)


def _energy(model: UniteModel, out: dict[str, torch.Tensor], mask: torch.Tensor, ids: torch.Tensor,
            tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    energy, valid = model.adapter.valence_error(out, ids, mask)
    done = valid & (energy.detach() < tol)
    return energy, done


def finished(model: UniteModel, out: dict[str, torch.Tensor], mask: torch.Tensor, ids: torch.Tensor,
             tol: float = VALENCE_TOL) -> torch.Tensor:
    """Whether each decoded molecule (decoder output ``out``) is done by :func:`guidance_energy`'s rule. (B,)"""
    return _energy(model, out, mask, ids, tol)[1]


def _valence_steps(model: UniteModel, z0: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor, *,
                   steps: int, lr: float, anchor: float, tol: float) -> torch.Tensor:
    z = z0.clone()
    b = z.shape[0]
    m1, m2 = torch.zeros_like(z), torch.zeros_like(z)
    count = torch.zeros(b, 1, 1, device=z.device)
    active = torch.ones(b, dtype=torch.bool, device=z.device)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for _ in range(steps):
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        width = int(mask[idx].sum(1).max())
        mi, zi = mask[idx, :width], z[idx, :width].clone().requires_grad_(True)
        with torch.enable_grad():
            energy, done = guidance_energy(model, zi, mi, ids[idx, :width], tol)
            loss = energy + anchor * ((zi - z0[idx, :width]).pow(2) * mi.unsqueeze(-1)).sum((1, 2))
            (grad,) = torch.autograd.grad(loss.sum(), zi)
        # done (valid and confident): keep this latent
        active[idx[done]] = False
        go, g = idx[~done], grad[~done]
        count[go] += 1
        m1[go, :width] = beta1 * m1[go, :width] + (1 - beta1) * g
        m2[go, :width] = beta2 * m2[go, :width] + (1 - beta2) * g * g
        c = count[go]
        step = (m1[go, :width] / (1 - beta1 ** c)) / ((m2[go, :width] / (1 - beta2 ** c)).sqrt() + eps)
        z[go, :width] = z[go, :width] - lr * step
    return z


@torch.no_grad()
def valence_nudge(model: UniteModel, z: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor, *,
                  step: float = VALENCE_NUDGE, softness: float = VALENCE_NUDGE_SOFTNESS,
                  tol: float = VALENCE_TOL) -> torch.Tensor:
    """One step of valence guidance on a clean-latent prediction, for the sampler's last steps.

    Each molecule not yet done (:func:`guidance_energy`'s stopping rule, that of :func:`valence_guidance`)
    moves by ``-step * g / (|g| + softness * rms(g))``, with ``g``
    the gradient of its :func:`guidance_energy` and ``rms`` taken over its real
    atoms and channels: a sign step where the gradient is large, smaller where it is small, so latents far
    from any valence problem barely move (a plain sign step, ``softness = 0``, cost 4 points of valid and
    connected molecules, ``benchmarks/qm9/valence`` round 6). Other molecules and padding are returned
    unchanged. One decoder pass forward and back for the batch.

    z (B, N, d) clean latents, mask (B, N), ids (B, N) element ids.  -> (B, N, d) float32
    """
    return _nudge(model, z, mask, ids, step=step, softness=softness, tol=tol)[0]


def _nudge(model: UniteModel, z: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor, *,
           step: float = VALENCE_NUDGE, softness: float = VALENCE_NUDGE_SOFTNESS, tol: float = VALENCE_TOL) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`valence_nudge`'s latents and which molecules were done (B,) before it. The sampler's nudges call
    this with its defaults (an experiment that changes the nudge's size sets them here)."""
    z = z.detach().float()
    with frozen(model), torch.enable_grad():
        zi = z.clone().requires_grad_(True)
        energy, done = guidance_energy(model, zi, mask, ids, tol)
        (g,) = torch.autograd.grad(energy.sum(), zi)
    m = mask.unsqueeze(-1).float()
    rms = ((g.pow(2) * m).sum((1, 2)) / (m.sum((1, 2)) * g.shape[-1]).clamp(min=1)).sqrt()    # (B,)
    move = g / (g.abs() + softness * rms[:, None, None]).clamp(min=1e-30) * m
    return torch.where(done[:, None, None], z, z - step * move), done


def generate_samples(model: UniteModel, n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None,
                     steps: int = DEFAULT_STEPS, method: str = DEFAULT_METHOD, batch_size: int = DEFAULT_BATCH_SIZE,
                     time_shift: float = 1.0, precision: str = "auto", first_index: int = 0,
                     progress: bool | Callable[[int], None] = False, temperature: float = 1.0,
                     noise_level: float | None = None, estimate_guidance: float = 1.0,
                     estimate_from: str = "previous", guide: UniteModel | None = None, guidance: float = 1.0,
                     guidance_interval: tuple[float, float] = (0.0, 1.0), formula: str | None = None,
                     valence_steps: int | None = None, valence_from: float = DEFAULT_VALENCE_FROM,
                     restarts: int = DEFAULT_RESTARTS,
                     restart_from: float = DEFAULT_RESTART_FROM,
                     ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Raw samples: (atomic numbers, positions, predicted bond rows or ``None`` without a bond head).

    Samples ``first_index .. first_index + n - 1`` of ``seed`` (so a long run can be made in chunks).

    ``precision``: ``"bf16"`` runs the ODE's denoiser passes under bfloat16 autocast (the decoder always
    runs in float32, so coordinates keep full precision); ``"auto"`` does so on CUDA and on CPUs with
    native bf16; ``"fp32"`` never. Only fp32 results are independent of ``batch_size`` (see the module
    docstring). ``progress``: a tqdm bar on stderr (``True``), none (``False``) or a callable given the
    number of samples finished after each batch. ``temperature`` scales the starting noise (1: the
    model's distribution; below 1 trades diversity for staying nearer the modes). ``noise_level`` (with
    ``method="stochastic"``): how strongly the noise is re-drawn along the way (:mod:`unite_mol.core.samplers`);
    the fresh noise of sample ``i`` also comes from ``(seed, i)`` alone.

    ``estimate_from`` (a model with self-conditioning): which estimate each step reads, ``"previous"``
    (the last step's prediction, one pass), ``"this-step"`` (a blind prediction at the same step first, as in
    training; two passes) or ``"recycle"`` (the last step's, then its own; two passes); see
    :meth:`UniteModel.sampling_denoiser`.

    Guidance (each costs a second denoiser pass per step): ``estimate_guidance`` ``w != 1`` extrapolates
    the model's prediction away from its own prediction without the estimate (free with
    ``estimate_from="this-step"``); ``guide``, a weaker model with the same latent space (for
    example an earlier snapshot of the same run), with ``guidance`` ``g != 1`` gives
    ``x_guide + g (x_model - x_guide)`` (autoguidance), at times ``lo <= t < hi`` of ``guidance_interval``
    only (t = 0 noise, 1 clean; the guide is not run elsewhere, so a guide that reads its own estimate
    starts without one at its first guided step).

    ``formula`` (a model whose denoiser is told the composition, e.g. ``"C7H10O2"``): every sample has these
    atoms, instead of a composition drawn from the training data's; not with ``num_atoms``.

    ``valence_steps`` (a model with a bond head): after the sampler, up to this many steps of
    :func:`valence_guidance` per molecule (``None``: :func:`resolve_valence_steps`; 0: guidance off, also
    during sampling); and every clean-latent prediction of the sampler at times ``t >= valence_from`` (1:
    none) gets one :func:`valence_nudge` (the next step then denoises from the nudged estimate, which
    becomes its self-conditioning estimate too), except for molecules already done at an earlier nudge of
    the trajectory: their later predictions are left as they come and the finished latent's steps check them
    again (``benchmarks/qm9/valence`` round 11: the same samples to within noise, 4 % less time).

    ``restarts`` (with valence guidance): after the finished latents' valence steps, each molecule that is
    not done by :func:`guidance_energy`'s rule (the model's own bond head: no data,
    no outside judge) is noised back to ``z = t x + (1 - t) eps`` at ``t = restart_from``, ``eps`` fresh
    from the sample's own stream, and integrated again to ``t = 1`` with the sampler's step size
    (``round(steps * (1 - restart_from))`` steps, nudges and final valence steps included); up to
    ``restarts`` rounds. The molecule is the last round's, done or not.

    Raises:
        ValueError: for a bad argument (checked before any work) or an atom count the model does not support.
    """
    noise_level = resolve_noise_level(method, noise_level)
    check_sampling_args(n, seed=seed, num_atoms=num_atoms, steps=steps, method=method, batch_size=batch_size,
                        time_shift=time_shift, precision=precision, first_index=first_index,
                        temperature=temperature, noise_level=noise_level, formula=formula,
                        valence_steps=valence_steps, valence_from=valence_from,
                        restarts=restarts, restart_from=restart_from)
    check_guidance(estimate_guidance, guide, guidance, guidance_interval)
    valence_steps = resolve_valence_steps(model, valence_steps)
    cfg: MoleculeConfig = model.adapter.config
    d = model.config.latent_dim
    if guide is not None and guide.config.latent_dim != d:
        raise ValueError(f"the guide model's latents have {guide.config.latent_dim} channels, the model's {d}: "
                         "guidance needs one latent space")
    device = next(model.parameters()).device
    amp = resolve_precision(precision, device) == "bf16"
    if isinstance(num_atoms, (int, np.integer)):
        counts_given: list[int] | None = [int(num_atoms)] * n
    elif num_atoms is not None:
        counts_given = [int(k) for k in num_atoms]
    else:
        counts_given = None
    table = torch.tensor(cfg.composition_hist, dtype=torch.long) if cfg.composition_hist else None   # (R, V + 1)
    given = None if formula is None else formula_composition(model, formula)                           # (V,)
    counts, noises, gens, compositions = [], [], [], []
    for i in range(n):
        g = sample_generator(seed, first_index + i)
        if table is not None:   # a composition-conditioned model: draw the composition (it fixes the atom count)
            comp = given if given is not None else \
                draw_composition(table, g, None if counts_given is None else counts_given[i])
            compositions.append(comp)
            k = int(comp.sum())
        else:
            k = counts_given[i] if counts_given is not None else draw_num_atoms(cfg.atom_count_hist, g)
        if not 1 <= k <= cfg.max_atoms:
            raise ValueError(f"sample {first_index + i}: {k} atoms requested; this model supports 1..{cfg.max_atoms}")
        counts.append(k)
        noises.append(torch.randn(k, d, generator=g) * temperature)
        gens.append(g)                            # the stochastic sampler's fresh noise continues this stream
    order = np.argsort(counts, kind="stable")     # similar sizes together: less padding
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray | None] | None] = [None] * n
    update, bar = progress_callback(progress, n)
    lock = threading.Lock()

    @torch.no_grad()
    def run_batch(s: int) -> None:     # one batch of molecules order[s: s + batch_size], start to finish
        idx = order[s: s + batch_size]
        width = max(counts[i] for i in idx)
        z = torch.zeros(len(idx), width, d)
        mask = torch.zeros(len(idx), width, dtype=torch.bool)
        for r, i in enumerate(idx):
            z[r, : counts[i]] = noises[i]
            mask[r, : counts[i]] = True
        z, mask = z.to(device), mask.to(device)
        ids = None
        if table is not None:   # element ids laid out slot by slot from each sample's composition
            ids = torch.full((len(idx), width), model.adapter.num_elements, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : counts[i]] = torch.repeat_interleave(torch.arange(len(compositions[i])), compositions[i])
            ids = ids.to(device)
        told = ids if ids is not None and model.adapter.slot_features else None   # else the decoder's choice

        def step_noise(like: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            """Fresh noise shaped like ``like`` for rows ``rows`` of the batch, from each sample's own stream."""
            fresh = torch.zeros(like.shape)
            for r, row in enumerate(rows.tolist()):
                k = counts[idx[row]]
                fresh[r, :k] = torch.randn(k, d, generator=gens[idx[row]])
            return fresh.to(like.device)

        def guided_latents(step: Callable[..., torch.Tensor], x: torch.Tensor, m: torch.Tensor,
                           el: torch.Tensor | None) -> torch.Tensor:
            """``step(model, x, m, elements)`` on clean latents x in float32; its decoder passes run under
            bfloat16 autocast when the sampler's do (the energy and the latents stay float32)."""
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                x32 = x.float()
                elems = el if el is not None else model.decode(x32, m)["logits"].argmax(-1)
                return step(model, x32, m, elems).to(x.dtype)

        def trajectory(z0: torch.Tensor, rows: torch.Tensor, t_start: float, n_steps: int) -> torch.Tensor:
            """Rows ``rows`` of the batch from ``z0`` at time ``t_start`` to finished (guided) latents."""
            w = int(mask[rows].sum(1).max())
            m, z0 = mask[rows, :w], z0[:, :w]
            el = None if told is None else told[rows, :w]
            conds = {} if ids is None else model.adapter.conditions(ids[rows, :w], m)

            settled = torch.zeros(len(rows), dtype=torch.bool, device=device)   # done at an earlier nudge

            def refine(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:    # the sampler's last predictions
                if float(t.reshape(-1)[0]) < valence_from:
                    return x
                act = (~settled).nonzero().flatten()
                if not len(act):
                    return x
                wa = int(m[act].sum(1).max())
                verdict = {}

                def step(model, xa, ma, ea):     # valence_nudge, keeping which molecules were done
                    xa, verdict["done"] = _nudge(model, xa, ma, ea)
                    return xa
                x = x.clone()
                x[act, :wa] = guided_latents(step, x[act, :wa], m[act, :wa], None if el is None else el[act, :wa])
                settled[act[verdict["done"]]] = True
                return x

            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                denoise = model.sampling_denoiser(m, estimate_guidance=estimate_guidance, estimate_from=estimate_from,
                                                  refine=refine if valence_steps and valence_from < 1 else None,
                                                  **conds)
                if guide is not None:
                    denoise = guided(denoise, guide.sampling_denoiser(m), float(guidance),
                                     interval=guidance_interval)
                z1 = sample(denoise, z0, steps=n_steps, method=method, shift=time_shift, t_start=t_start,
                            noise_level=noise_level, step_noise=partial(step_noise, rows=rows))
            z1 = z1.float()
            if valence_steps:
                z1 = guided_latents(partial(valence_guidance, steps=valence_steps), z1,
                                    m, el)
            return F.pad(z1, (0, 0, 0, width - w))

        every = torch.arange(len(idx), device=device)
        z1 = trajectory(z, every, 0.0, steps)
        dec = model.decode(z1, mask)
        for _ in range(restarts if valence_steps else 0):
            # molecules the bond head does not call done start again from restart_from
            elems = told if told is not None else dec["logits"].argmax(-1)
            rows = (~finished(model, dec, mask, elems)).nonzero().flatten()
            if not len(rows):
                break
            back = restart_from * z1[rows] + (1 - restart_from) * step_noise(z1[rows], rows)
            z1[rows] = trajectory(back, rows, restart_from, max(1, round(steps * (1 - restart_from))))
            dec = model.decode(z1, mask)
        # atoms told their element keep it; otherwise the decoder's element head decides
        decoded = model.adapter.to_arrays(dec, mask, ids=told)
        bonds = model.adapter.to_bonds(dec, mask) or [None] * len(idx)
        for r, i in enumerate(idx):
            out[i] = (*decoded[r], bonds[r])
        if update is not None:
            with lock:
                update(len(idx))

    try:
        with frozen(model):     # once for all workers (nothing here trains; guidance wants latent gradients only)
            run_batches(run_batch, reversed(range(0, n, batch_size)), device)   # largest first: balanced workers
    finally:
        if bar is not None:
            bar.close()
    return out  # type: ignore[return-value]


def generate(n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None, steps: int = DEFAULT_STEPS,
             method: str = DEFAULT_METHOD, model: UniteModel | str | Path | None = None,
             batch_size: int = DEFAULT_BATCH_SIZE,
             bonds: str | None = "auto", device: str | torch.device = "auto",
             precision: str = "auto", relax: bool = False, first_index: int = 0,
             progress: bool | Callable[[int], None] = True, valid_only: bool = False,
             num_heavy_atoms: int | None = None, max_draws: int | None = None, temperature: float = 1.0,
             noise_level: float | None = None, time_shift: float = 1.0, estimate_guidance: float = 1.0,
             estimate_from: str = "previous", guide: UniteModel | str | Path | None = None,
             guidance: float | None = None, guidance_interval: tuple[float, float] | None = None,
             formula: str | None = None, valence_steps: int | None = None,
             valence_from: float = DEFAULT_VALENCE_FROM,
             restarts: int = DEFAULT_RESTARTS, restart_from: float = DEFAULT_RESTART_FROM,
             ) -> list[Molecule]:
    """Generate ``n`` molecules.

    The command line (``python -m unite_mol generate``) calls this with the same defaults, so the same
    seed gives the same molecules from both.

    Args:
        n: how many molecules (>= 0).
        seed: sample ``i`` depends on ``(seed, i)`` only (in fp32; see ``precision``).
        num_atoms: atoms per molecule, hydrogens included (an int or one per sample); default: drawn from
            the training data's atom-count histogram (or, for a model whose denoiser is told the composition,
            a composition drawn from the training data's with that many atoms).
        formula: for a model whose denoiser is told the composition (``--element-cond`` /
            ``--composition-cond``): every molecule has these atoms, e.g. ``"C7H10O2"``, instead of a
            composition drawn from the training data's. Not with ``num_atoms``.
        steps, method: solver steps and ``"stochastic"`` (default), ``"heun"`` or ``"euler"``. The default,
            75 stochastic steps, costs 1.5 times what 25 Heun steps cost and makes far more valid molecules
            on the shipped model (``benchmarks/qm9/sampling``; the model card has the numbers).
        temperature, noise_level: the starting noise's scale, and how strongly the stochastic sampler
            re-draws the noise along the way (``None``: :data:`DEFAULT_NOISE_LEVEL` for the stochastic
            sampler, 0 for the others; see :func:`generate_samples`).
        time_shift: where the solver's steps go: the uniform time grid ``t`` becomes
            ``a t / (1 + (a - 1) t)`` with ``a = time_shift``; below 1 more steps near the noise end, above
            1 more near the clean end (1: uniform, the default).
        estimate_from: which self-conditioning estimate each step reads (``"previous"``, the default;
            ``"this-step"`` and ``"recycle"`` cost two passes; see :func:`generate_samples`).
        guide, guidance, guidance_interval: autoguidance by a weaker model of the same latent space
            (see :func:`generate_samples`), a second denoiser pass at each step it acts. ``None`` (default):
            off. ``"auto"``: the shipped guide for the shipped model (:data:`DEFAULT_GUIDE`, strength
            :data:`DEFAULT_GUIDANCE` at t in :data:`DEFAULT_GUIDANCE_INTERVAL`), none for other models; or
            a loaded model or path. ``guidance`` and ``guidance_interval`` ``None``: those defaults with a
            guide. On the shipped model it gives about 11 points more EDM-valid-and-connected molecules,
            1 point less atom stability and the same share of strictly usable ones (``valid_only``'s
            sense), at 1.4 times the time (``benchmarks/qm9/sampling``, round 10), so it is off by default.
        estimate_guidance: guidance by the model's own estimate-blind prediction (off: 1).
        valence_steps: valence guidance (a model with a bond head): after sampling, each molecule's latent
            moves by up to this many gradient steps until the model's own bond head gives every atom its
            valence (:func:`valence_guidance`; coordinates still come from the decoder). ``None``:
            :data:`DEFAULT_VALENCE_STEPS` with a bond head, else 0 (off, also during sampling).
        valence_from: with valence guidance on, each of the sampler's clean-latent predictions at times
            ``t >= valence_from`` also takes one step (:func:`valence_nudge`), and the sampler goes on from
            the nudged estimate; 1: only the finished latent is guided (see :func:`generate_samples`).
        restarts, restart_from: with valence guidance on, a molecule that guidance leaves not done (by the
            model's own bond head: :func:`guidance_energy`'s rule) is noised back to time ``restart_from``
            with fresh noise from its own random stream and integrated again, up to ``restarts`` times (see
            :func:`generate_samples`); 0: none.
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` for the denoiser passes (see
            :func:`generate_samples`). Only ``"fp32"`` makes the molecules independent of ``batch_size``;
            under bf16 the batch composition changes them slightly. ``properties["precision"]`` records
            what was used (``"bf16"`` or ``"fp32"``).
        model: a loaded model, a path to one, or ``None`` for the shipped pretrained QM9 model.
        batch_size: molecules integrated together (>= 1); on a CPU the batches run side by side, one per
            torch thread.
        bonds: ``"model"`` (the bond orders the model's bond head predicts), a perception method applied
            to the generated 3D coordinates (``"openbabel"``, ``"rdkit"``, ``"edm"``), ``"auto"`` (the
            model's own bonds when it has a bond head, else Open Babel) or ``None`` for atoms only.
            ``properties["bonds_from"]`` records which.
        relax: relax each molecule with RDKit's MMFF94 on its bonds (:func:`unite_mol.relax.relax`); the
            outcome is in the ``relax_*`` properties (energy change, RMSD moved, reason when it failed). Off by default: benchmark numbers are always of the raw samples.
        device: where to run (``"auto"`` picks cuda, then mps, then cpu).
        first_index: make samples ``first_index .. first_index + n - 1`` (a long run in chunks gives the
            same molecules as one call).
        progress: a progress bar on stderr with rate and ETA (shown on a terminal; ``UNITE_MOL_NO_PROGRESS=1``
            turns it off), ``False``, or a callable given the number of molecules finished after each batch.
        valid_only: return the first ``n`` samples (in sample order, so still reproducible) that are usable
            structures (:meth:`Molecule.invalid_reason`: they sanitise, are one piece, have no radicals),
            drawing more samples until ``n`` are found; each molecule records ``properties["drawn"]``, the
            number of samples it took to find the ``n`` (up to the last one kept). Needs bonds and an int or
            ``None`` ``num_atoms``.
        num_heavy_atoms: keep only samples with exactly this many non-hydrogen atoms. Exact in the output,
            reached by rejection sampling: the model is not conditioned on it (total atom counts are still
            drawn from the training histogram, or ``num_atoms``), so a rare count costs many draws; each
            molecule records ``properties["drawn"]`` as with ``valid_only`` (the two combine).
        max_draws: with ``valid_only`` or ``num_heavy_atoms``, give up after this many samples (default
            ``max(100, 50 * n)``).

    Returns:
        ``Molecule`` objects (convert with ``.to_rdkit()`` / ``.to_ase()``); each carries
        ``properties["seed"]``, ``["sample_index"]``, ``["precision"]``, ``["sampler"]`` and ``["bonds_from"]``
        (with bonds).

    Raises:
        ValueError: for any bad argument (all are checked before a model is loaded or a sample drawn: ``n``,
            ``seed``, ``steps``, ``batch_size``, ``method``, ``precision``, ``bonds``, ``num_atoms``, a device
            this machine lacks), an atom count the model does not support, or a bad model file.
    """
    from unite_mol.bonds import METHODS as BOND_METHODS

    noise_level = resolve_noise_level(method, noise_level)
    check_sampling_args(n, seed=seed, num_atoms=num_atoms, steps=steps, method=method, batch_size=batch_size,
                        time_shift=time_shift, precision=precision, first_index=first_index,
                        temperature=temperature, noise_level=noise_level, formula=formula,
                        valence_steps=valence_steps, valence_from=valence_from,
                        restarts=restarts, restart_from=restart_from)
    check_guidance(estimate_guidance, guide, guidance, guidance_interval)
    check_estimate_from(estimate_from)
    if bonds not in (None, "auto", "model", *BOND_METHODS):
        raise ValueError(f"unknown bonds {bonds!r}; choose 'auto', 'model', {', '.join(map(repr, BOND_METHODS))} "
                         f"or None")
    if relax and bonds is None:
        raise ValueError("relax=True needs bonds; pass bonds='auto' (or a perception method)")
    if valid_only and bonds is None:
        raise ValueError("valid_only=True judges molecules by their bonds; pass bonds='auto' (or a method)")
    filtered = valid_only or num_heavy_atoms is not None
    if num_heavy_atoms is not None:
        _check_int("num_heavy_atoms", num_heavy_atoms, 1)
        if isinstance(num_atoms, (int, np.integer)) and num_atoms < num_heavy_atoms:
            raise ValueError(f"num_atoms={num_atoms} cannot hold num_heavy_atoms={num_heavy_atoms}")
    if filtered and num_atoms is not None and not isinstance(num_atoms, (int, np.integer)):
        raise ValueError("valid_only / num_heavy_atoms draw more samples than n, so num_atoms must be an int or None")
    if max_draws is not None:
        _check_int("max_draws", max_draws, max(n, 1))
    if model is not None and not isinstance(model, (str, Path, UniteModel)):
        raise ValueError(f"model must be a UniteModel, a path or None, got {type(model).__name__}")
    dev = pick_device(device)
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, device=dev)
    else:
        model = model.to(dev).eval()
    guide, guidance, guidance_interval = resolve_guide(model, guide, guidance, guidance_interval, dev)
    valence_steps = resolve_valence_steps(model, valence_steps)
    has_head = model.adapter.config.bond_head
    if bonds == "model" and not has_head:
        raise ValueError("bonds='model' needs a model with a bond head; this one has none (use 'auto' or a "
                         "perception method such as 'openbabel')")
    if bonds == "auto":
        bonds = "model" if has_head else "openbabel"
    max_atoms = model.adapter.config.max_atoms
    wanted = [num_atoms] if isinstance(num_atoms, (int, np.integer)) else list(num_atoms or [])
    too_big = [k for k in wanted if k > max_atoms]
    if too_big:
        raise ValueError(f"num_atoms {too_big[0]} requested; this model supports 1..{max_atoms} atoms")
    used = resolve_precision(precision, dev)
    sampler = f"{method}, {steps} steps" + (f", noise level {noise_level:g}" if method == "stochastic" else "") \
        + (f", time shift {time_shift:g}" if time_shift != 1.0 else "") \
        + (f", estimate from {estimate_from}" if estimate_from != "previous" else "") \
        + (f", estimate guidance {estimate_guidance:g}" if estimate_guidance != 1.0 else "") \
        + (f", guidance {guidance:g}" if guide is not None else "") \
        + (f" for t in [{guidance_interval[0]:g}, {guidance_interval[1]:g})"
           if guide is not None and tuple(guidance_interval) != (0.0, 1.0) else "") \
        + (f", valence guidance {valence_steps} steps" if valence_steps else "") \
        + (f", one valence step per prediction for t >= {valence_from:g}" if valence_steps and valence_from < 1 else "") \
        + (f", {restarts} restart{'s' if restarts > 1 else ''} from t = {restart_from:g}"
           if valence_steps and restarts else "")

    def make(count: int, first: int, report: bool | Callable[[int], None]) -> list[Molecule]:
        samples = generate_samples(model, count, seed=seed, num_atoms=num_atoms, steps=steps, method=method,
                                   batch_size=batch_size, precision=used, first_index=first, progress=report,
                                   temperature=temperature, noise_level=noise_level, time_shift=time_shift,
                                   estimate_guidance=estimate_guidance, estimate_from=estimate_from,
                                   guide=guide, guidance=guidance,
                                   guidance_interval=guidance_interval, formula=formula,
                                   valence_steps=valence_steps, valence_from=valence_from,
                                   restarts=restarts, restart_from=restart_from)
        out = []
        for i, (z, x, predicted) in enumerate(samples, first):
            props = {"seed": seed, "sample_index": i, "name": f"unite_mol_{seed}_{i}", "precision": used,
                     "sampler": sampler}
            if bonds == "model":
                m = Molecule(z, x, bonds=predicted, charges=charges_from_bonds(z, predicted),
                             properties={**props, "bonds_from": "model"})
            else:
                m = Molecule(z, x, properties=props)
                if bonds is not None:
                    m = m.with_bonds(bonds)
                    m = m.replace(properties={**m.properties, "bonds_from": bonds})
            out.append(m)
        return out

    def keep(m: Molecule) -> bool:
        if num_heavy_atoms is not None and int((m.numbers > 1).sum()) != num_heavy_atoms:
            return False
        return not (valid_only and m.invalid_reason())

    if not filtered:
        mols = make(n, first_index, progress)
    else:
        limit = max_draws if max_draws is not None else max(100, 50 * n)
        update, bar = progress_callback(progress, n)
        mols, drawn = [], 0
        try:
            while len(mols) < n:
                if drawn >= limit:
                    raise ValueError(f"valid_only / num_heavy_atoms: {len(mols)} molecules of {n} kept after "
                                     f"{drawn} samples (max_draws={limit}); raise max_draws or check the model")
                rate = max(len(mols) / drawn, 0.05) if drawn else 1.0
                count = min(limit - drawn, max(1, int(np.ceil((n - len(mols)) / rate))))
                for m in make(count, first_index + drawn, False):
                    if len(mols) < n and keep(m):
                        mols.append(m)
                        if update is not None:
                            update(1)
                drawn += count
        finally:
            if bar is not None:
                bar.close()
        needed = mols[-1].properties["sample_index"] + 1 - first_index if mols else 0  # to the last one kept
        mols = [m.replace(properties={**m.properties, "drawn": needed}) for m in mols]
    if relax:
        from unite_mol.relax import relax as relax_molecules

        mols = relax_molecules(mols)
    return mols
