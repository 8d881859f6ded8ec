"""How to optimise: :class:`TrainConfig`, the validated options of :class:`unite_mol.core.trainer.Trainer`."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import nn

from unite_mol.runtime import AMP_MODES

LossFn = Callable[[nn.Module, Any, torch.Generator], "tuple[torch.Tensor, dict[str, float]]"]
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TrainConfig:
    """How to optimise (what to optimise is the caller's). Validated on construction.

    Raises:
        ValueError: naming the field and its allowed range or choices.
    """

    steps: int = 10_000              # optimiser steps (also the length of the LR schedule)
    budget_s: float | None = None    # wall-clock budget across resumes; the run checkpoints and stops
    lr: float = 3e-4
    weight_decay: float = 0.01       # on >= 2-D weights only
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 500          # linear warm-up to `lr`
    lr_schedule: str = "cosine"      # "cosine" (to min_lr_ratio * lr at `steps`), "cosine-budget" (reaches it at
                                     # `steps` or at `budget_s` of training time, whichever comes first;
                                     # single process only), or "constant"
    warmup_budget_frac: float = 0.0  # "cosine-budget" only: warm-up also ends once this fraction of budget_s has
                                     # passed (a short budget then leaves warm-up); 0 = step-based warm-up only
    min_lr_ratio: float = 0.1
    lr_multipliers: tuple[tuple[str, float], ...] = ()  # (parameter-name prefix, LR factor): e.g. a module
                                                         # added to a trained model learns faster than the rest
    grad_clip: float = 1.0           # max global grad norm
    ema_decay: float = 0.999         # EMA of the weights (fp32), for evaluation and sampling
    ema_warmup: bool = True          # decay min(ema_decay, (1 + step) / (10 + step)): short runs get a usable EMA
    seed: int = 0
    log_every: int = 25              # steps per metrics.jsonl line
    ckpt_every: int = 500            # steps per checkpoint ...
    ckpt_every_s: float = 600.0      # ... and at least this often in wall-clock seconds
    first_ckpt_s: float = 30.0       # ... and once this many seconds into each fit(): a run killed early resumes
    amp: str = "auto"                # "auto" (bf16 on CUDA, and on CPUs with fast bf16), "bf16", "off"
    device: str = "auto"             # "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:K", "mps"

    def __post_init__(self) -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        def need(cond: bool, field: str, allowed: str) -> None:
            if not cond:
                raise ValueError(f"TrainConfig.{field} must be {allowed}, got {getattr(self, field)!r}")

        need(is_int(self.steps) and self.steps >= 1, "steps", "an integer >= 1")
        need(self.budget_s is None or (is_num(self.budget_s) and self.budget_s > 0), "budget_s", "a number > 0 or None")
        need(is_num(self.lr) and self.lr > 0, "lr", "a number > 0")
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number >= 0")
        need(isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
             and all(is_num(b) and 0 <= b < 1 for b in self.betas), "betas", "two numbers in [0, 1)")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        need(is_int(self.warmup_steps) and self.warmup_steps >= 0, "warmup_steps", "an integer >= 0")
        need(self.lr_schedule in ("cosine", "cosine-budget", "constant"), "lr_schedule",
             "one of 'cosine', 'cosine-budget', 'constant'")
        need(self.lr_schedule != "cosine-budget" or self.budget_s is not None, "lr_schedule",
             "'cosine' or 'constant' when budget_s is None ('cosine-budget' needs a budget)")
        need(is_num(self.warmup_budget_frac) and 0 <= self.warmup_budget_frac < 1, "warmup_budget_frac",
             "a number in [0, 1)")
        need(is_num(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "a number in [0, 1]")
        need(isinstance(self.lr_multipliers, (tuple, list)) and all(
            isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], str) and is_num(x[1]) and x[1] > 0
            for x in self.lr_multipliers), "lr_multipliers", "(prefix, factor > 0) pairs")
        object.__setattr__(self, "lr_multipliers", tuple((str(a), float(b)) for a, b in self.lr_multipliers))
        need(is_num(self.grad_clip) and self.grad_clip > 0, "grad_clip", "a number > 0")
        need(is_num(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay", "a number in [0, 1)")
        need(is_int(self.seed) and 0 <= self.seed < 2**53, "seed", "an integer in [0, 2**53)")
        need(is_int(self.log_every) and self.log_every >= 1, "log_every", "an integer >= 1")
        need(is_int(self.ckpt_every) and self.ckpt_every >= 1, "ckpt_every", "an integer >= 1")
        need(is_num(self.ckpt_every_s) and self.ckpt_every_s > 0, "ckpt_every_s", "a number > 0")
        need(is_num(self.first_ckpt_s) and self.first_ckpt_s > 0, "first_ckpt_s", "a number > 0")
        need(self.amp in AMP_MODES, "amp", "one of 'auto', 'bf16', 'off'")
        need(isinstance(self.device, str) and bool(_DEVICE_RE.match(self.device)), "device",
             "one of 'auto', 'cpu', 'cuda', 'cuda:K', 'mps'")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["lr_multipliers"] = [list(x) for x in self.lr_multipliers]
        return d

    def lr_at(self, step: int, elapsed: float = 0.0) -> float:
        """LR of optimiser step ``step`` (0-based) after ``elapsed`` training seconds: linear warm-up, then
        cosine to ``min_lr_ratio * lr`` (``"cosine-budget"``: progress is the larger of the step fraction and
        the budget fraction, so a wall-clock-limited run still anneals, and with ``warmup_budget_frac`` the
        warm-up too ends at whichever comes first) or constant."""
        c = self
        budget_warmup = c.lr_schedule == "cosine-budget" and c.warmup_budget_frac > 0
        warm_time = c.warmup_budget_frac * c.budget_s if budget_warmup else float("inf")
        if step < c.warmup_steps and elapsed < warm_time:
            return c.lr * max((step + 1) / c.warmup_steps, elapsed / warm_time)
        # (a warm-up ended by the clock leaves a negative step fraction: the budget fraction drives the decay)
        if c.lr_schedule == "constant":
            return c.lr
        frac = min(1.0, (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps))
        if c.lr_schedule == "cosine-budget":
            frac = max(frac, min(1.0, elapsed / c.budget_s))
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))

    def ema_decay_at(self, step: int) -> float:
        """The EMA decay applied after optimiser step ``step`` (0-based)."""
        d = self.ema_decay
        return min(d, (1 + step) / (10 + step)) if self.ema_warmup else d
