"""What each sample starts from: its atom count or composition, its starting noise and its random stream.

Sample ``i`` of seed ``s`` draws everything from one generator seeded by ``(s, i)`` alone
(:func:`sample_generator`): first its composition (a model whose denoiser is told it; drawn from the training
data's compositions by their frequency, among those that fit the request) or its atom count (drawn from the
training histogram), then its starting noise; the stochastic sampler's fresh noise continues the same stream.
So a sample does not depend on the batch size, on the device count, or on which other samples are drawn.

Composition controls are conditions, not filters: ``num_atoms`` and ``num_heavy_atoms`` restrict the
compositions drawn from, and a ``formula`` fixes the composition. A request no training composition meets fails
at once, naming the training range; a formula the training data has never (or hardly ever) seen warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unite_mol.elements import parse_formula, symbol

#: a formula seen fewer times than this in the training data draws a warning (expect many invalid molecules)
RARE_COMPOSITION = 10


@dataclass
class Start:
    """Sample ``index``'s start: its atom count, element counts (composition models; ``None`` otherwise),
    starting noise (count, d) and the random stream its later noise comes from."""

    index: int
    count: int
    composition: torch.Tensor | None
    noise: torch.Tensor
    generator: torch.Generator


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The generator of sample ``index`` under ``seed`` (independent of batch size and device count)."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def draw_num_atoms(hist: Sequence[int], generator: torch.Generator) -> int:
    """An atom count drawn from a histogram (entry k: molecules with k atoms).

    Raises:
        ValueError: for an empty histogram.
    """
    probs = torch.tensor(hist, dtype=torch.float64)
    if probs.sum() <= 0:
        raise ValueError("the model has no atom-count histogram; pass num_atoms")
    return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))


def composition_weights(table: torch.Tensor, elements: Sequence[int], num_atoms: int | None = None,
                        num_heavy_atoms: int | None = None) -> torch.Tensor:
    """Each training composition's frequency (rows of ``composition_hist`` (R, V + 1)), zero for those without
    ``num_atoms`` atoms or ``num_heavy_atoms`` non-hydrogen atoms when given.  -> (R,) float64

    Raises:
        ValueError: when no composition of the training data meets the request (naming its range).
    """
    weight = table[:, -1].double()
    counts = table[:, :-1]
    heavy = counts[:, [k for k, z in enumerate(elements) if z != 1]].sum(1)
    if num_atoms is not None:
        weight = weight * (counts.sum(1) == num_atoms)
    if num_heavy_atoms is not None:
        weight = weight * (heavy == num_heavy_atoms)
    if not weight.sum() > 0:
        asked = " and ".join(s for s in (f"{num_atoms} atoms" if num_atoms is not None else "",
                                         f"{num_heavy_atoms} heavy atoms" if num_heavy_atoms is not None else "") if s)
        raise ValueError(f"{asked} requested; no composition of this model's training data has that (it has "
                         f"{int(counts.sum(1).min())}..{int(counts.sum(1).max())} atoms, "
                         f"{int(heavy.min())}..{int(heavy.max())} heavy atoms)")
    return weight


def formula_composition(model: Any, formula: str) -> torch.Tensor:
    """The composition (count of each of the model's elements) of a ``formula`` for a model whose denoiser is
    told the composition or each atom's element.  -> (V,)

    Warns (``UserWarning``) when the training data has fewer than :data:`RARE_COMPOSITION` molecules of this
    composition (none: the model has never seen it; expect invalid molecules).

    Raises:
        ValueError: for a malformed formula, a model not conditioned on composition, an element the model does
            not know, or more atoms or heavy atoms than any training molecule has (smaller unseen ones warn).
    """
    counts = parse_formula(formula)
    cfg = model.adapter.config
    if not (model.config.cond_features or model.config.slot_features):
        raise ValueError(f"formula={formula!r} needs a model whose denoiser is told the composition (trained with "
                         "--element-cond or --composition-cond); this one decides its elements itself")
    unknown = [symbol(z) for z in counts if z not in cfg.elements]
    if unknown:
        raise ValueError(f"formula {formula!r} has {', '.join(unknown)}, which this model does not know (it knows "
                         f"{', '.join(symbol(z) for z in cfg.elements)})")
    comp = torch.tensor([counts.get(z, 0) for z in cfg.elements], dtype=torch.long)
    table = torch.tensor(cfg.composition_hist, dtype=torch.long)
    heavy_cols = [k for k, z in enumerate(cfg.elements) if z != 1]
    total, heavy = int(comp.sum()), int(comp[heavy_cols].sum())
    sizes, heavies = table[:, :-1].sum(1), table[:, heavy_cols].sum(1)
    if total > min(cfg.max_atoms, int(sizes.max())) or heavy > int(heavies.max()):
        raise ValueError(f"formula {formula!r} has {total} atoms, {heavy} heavy; this model's training molecules have "
                         f"{int(sizes.min())}..{int(sizes.max())} atoms and {int(heavies.min())}..{int(heavies.max())} "
                         f"heavy atoms, and it gives garbage for larger molecules")
    seen = int(table[(table[:, :-1] == comp).all(1), -1].sum())
    if seen < RARE_COMPOSITION:
        warnings.warn(f"formula {formula!r}: {'no' if not seen else f'only {seen}'} training molecule"
                      f"{'' if seen == 1 else 's'} of this composition (training range {int(sizes.min())}.."
                      f"{int(sizes.max())} atoms, {int(heavies.min())}..{int(heavies.max())} heavy atoms); expect "
                      f"many invalid molecules", UserWarning, stacklevel=3)
    return comp


def draw_starts(model: Any, n: int, *, seed: int, first_index: int = 0, num_atoms: int | Sequence[int] | None = None,
                formula: str | None = None, num_heavy_atoms: int | None = None,
                temperature: float = 1.0) -> list[Start]:
    """The starts of samples ``first_index .. first_index + n - 1`` of ``seed`` (see the module docstring).

    Raises:
        ValueError: for an atom count the model does not support, or a request no training composition meets.
    """
    cfg = model.adapter.config
    d = model.config.latent_dim
    given_counts = [int(num_atoms)] * n if isinstance(num_atoms, (int, np.integer)) else \
        None if num_atoms is None else [int(k) for k in num_atoms]
    table = torch.tensor(cfg.composition_hist, dtype=torch.long) if cfg.composition_hist else None   # (R, V + 1)
    given = None if formula is None else formula_composition(model, formula)                          # (V,)
    weights: dict[int | None, torch.Tensor] = {}
    starts = []
    for i in range(n):
        g = sample_generator(seed, first_index + i)
        comp = None
        if table is not None:   # a composition-conditioned model: draw the composition (it fixes the atom count)
            if given is not None:
                comp = given
            else:
                want = None if given_counts is None else given_counts[i]
                if want not in weights:
                    weights[want] = composition_weights(table, cfg.elements, want, num_heavy_atoms)
                comp = table[int(torch.multinomial(weights[want], 1, generator=g)), :-1]
            k = int(comp.sum())
        else:
            k = given_counts[i] if given_counts is not None else draw_num_atoms(cfg.atom_count_hist, g)
        if not 1 <= k <= cfg.max_atoms:
            raise ValueError(f"sample {first_index + i}: {k} atoms requested; this model supports 1..{cfg.max_atoms}")
        starts.append(Start(first_index + i, k, comp, torch.randn(k, d, generator=g) * temperature, g))
    return starts
