"""The sampler's settings: one frozen, validated :class:`SamplerConfig`, the one place each setting and its
default is written.

:func:`unite_mol.generate`, ``python -m unite_mol generate`` (its flags are built from the fields here), the
benches and the model card read this class; an experiment's arm is a JSON file of the fields it changes
(:meth:`SamplerConfig.from_file`), run by the same command as the default, never a patched default.

Where the defaults come from (``benchmarks/qm9/...``, 1,000 samples per arm):

* ``steps=200``, ``method="stochastic"``, ``noise_level`` 256 for the stochastic sampler (0 for Heun / Euler):
  judged by physics (``sampling`` round 13, valence guidance on, 500 samples, seeds 0 and 1), 200 steps at
  strength 256 against the earlier 75 at 64: GFN2-xTB median relaxation energy 54.9 / 63.4 against 67.3 / 86.7
  kcal/mol, PoseBusters 69 / 73 against 58 / 53 %, usable 77 / 79 against 70 / 65 %, molecule stability
  56.2 / 52.0 against 50.0 / 48.0 %, EDM valid+connected 72.4 / 68.4 against 72.8 / 70.8 %, at 2.6 times the
  time; 120 steps at 256 gave 103.6 / 78.9 kcal/mol, and without guidance the same change moved the median
  from 62.3 / 81.4 to 47.5 / 53.9. For speed, ``steps=75, noise_level=64`` (the earlier defaults, chosen by EDM
  molecule stability in rounds 5 and 12).
* ``guide=None``: autoguidance by the shipped guide (``"auto"``, strength 2 for t >= 0.5) gives about 11 points
  more EDM-valid-and-connected molecules and the same share of strictly usable ones at 1.4 times the time
  (``sampling`` round 10), so it is opt-in.
* ``valence_steps=None`` (4 with a bond head, else 0), ``valence_from=0.9``: valence guidance by the model's own
  bond head, one nudge per prediction at t >= 0.9 and 4 steps on the finished latent (``valence`` rounds 1-6).
* ``restarts=0``: opt-in (``valence`` round 10-11: one restart, 9-11 s more per 1,000).
* ``batch_size=128``: on a CPU the batches run side by side, one per torch thread; 36-39 s at 64-128 against
  44-46 s at 256 (``valence`` round 6).
"""

from __future__ import annotations

import json
import numbers
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from unite_mol.core.model import check_fields
from unite_mol.core.samplers import check_interval, check_sampler
from unite_mol.core.unite import ESTIMATE_FROM
from unite_mol.runtime import PRECISIONS

#: the stochastic sampler's default noise strength (the deterministic samplers' is 0)
STOCHASTIC_NOISE_LEVEL = 256.0
#: autoguidance's defaults once a guide is given
GUIDE_STRENGTH = 2.0
GUIDE_INTERVAL = (0.5, 1.0)
#: valence guidance steps on the finished latent for a model with a bond head (``valence_steps=None``)
HEAD_VALENCE_STEPS = 4
#: the starting noise's scale the model was trained at is 1; above this a request leaves its training range
MAX_TEMPERATURE = 4.0

#: help for each field, read by the command line (``python -m unite_mol generate --help``)
HELP = {
    "steps": "solver steps (denoiser calls)",
    "method": "solver: stochastic, heun or euler",
    "noise_level": "strength of the noise re-drawn along the way (stochastic sampler; default: 256 for stochastic, "
                   "0 otherwise",
    "temperature": f"scale of the starting noise (the model was trained at 1; at most {MAX_TEMPERATURE:g})",
    "time_shift": "where the steps go: below 1 more near the noise end, above 1 more near the clean end",
    "estimate_from": "which self-conditioning estimate each step reads: previous, this-step or recycle",
    "estimate_guidance": "guidance by the model's own estimate-blind prediction (1 = off)",
    "guide": "autoguidance by a weaker model of the same latent space: auto (the shipped guide for the shipped "
             "model) or a model path; default none",
    "guidance": f"autoguidance strength (default {GUIDE_STRENGTH:g} with a guide)",
    "guidance_interval": "autoguidance acts at times lo <= t < hi (two numbers; default 0.5 1 with a guide)",
    "valence_steps": f"valence guidance by the model's own bond head: latent steps on the finished molecule "
                     f"(default {HEAD_VALENCE_STEPS} with a bond head, else 0; 0 = off)",
    "valence_from": "with valence guidance, one valence step on each of the sampler's predictions at times "
                    "t >= this (1 = only the finished latent)",
    "restarts": "with valence guidance: times a molecule the bond head does not call done is noised back to "
                "restart_from and integrated again",
    "restart_from": "the time restarts go back to (t = 1 clean)",
    "batch_size": "molecules integrated together (on a CPU the batches run side by side)",
    "precision": "denoiser precision: auto, bf16 or fp32 (only fp32 makes molecules independent of batch size)",
}


class SettingTypeError(TypeError, ValueError):
    """A setting of the wrong type (e.g. ``valid_only="no"``): a ``TypeError`` that callers catching bad input
    as ``ValueError`` (the command line) also catch."""


def check_int(name: str, value: Any, low: int) -> int:
    """``value`` if it is an integer (not a bool) >= ``low``.

    Raises:
        SettingTypeError: for a non-integer; ValueError: below ``low``.
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise SettingTypeError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 open_low: bool = False, open_high: bool = False) -> float:
    """``value`` as a float if it is a finite real number (not a bool) in the range.

    Raises:
        SettingTypeError: for a non-number; ValueError: out of range or not finite.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise SettingTypeError(f"{name} must be a number, got {value!r}")
    lo_ok = low is None or (value > low if open_low else value >= low)
    hi_ok = high is None or (value < high if open_high else value <= high)
    if not np.isfinite(value) or not lo_ok or not hi_ok:
        lo = "" if low is None else f"{'(' if open_low else '['}{low:g}"
        hi = "" if high is None else f"{high:g}{')' if open_high else ']'}"
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if lo or hi else ""
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SamplerConfig:
    """Every setting of the sampler (see the module docstring for where each default comes from).

    ``noise_level=None`` resolves at construction to the method's default; ``valence_steps=None`` and the guide
    settings resolve against a model (:class:`unite_mol.sampling.Sampler`). Construction validates every
    field.

    Raises:
        SettingTypeError: (a TypeError and a ValueError) a field of the wrong type (e.g. ``steps=2.5``, ``valence_from="no"``).
        ValueError: a value out of range, naming the field and the range.
    """

    steps: int = 200
    method: str = "stochastic"
    noise_level: float | None = None
    temperature: float = 1.0
    time_shift: float = 1.0
    estimate_from: str = "previous"
    estimate_guidance: float = 1.0
    guide: str | None = None
    guidance: float | None = None
    guidance_interval: tuple[float, float] | None = None
    valence_steps: int | None = None
    valence_from: float = 0.9
    restarts: int = 0
    restart_from: float = 0.9
    batch_size: int = 128
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("restarts", self.restarts, 0)
        if self.valence_steps is not None:
            check_int("valence_steps", self.valence_steps, 0)
        for name in ("method", "estimate_from", "precision"):
            if not isinstance(getattr(self, name), str):
                raise SettingTypeError(f"{name} must be a string, got {getattr(self, name)!r}")
        if self.noise_level is None:
            object.__setattr__(self, "noise_level", STOCHASTIC_NOISE_LEVEL if self.method == "stochastic" else 0.0)
        check_number("noise_level", self.noise_level, 0.0)
        check_sampler(self.method, self.noise_level)
        check_number("temperature", self.temperature, 0.0, MAX_TEMPERATURE, open_low=True)
        check_number("time_shift", self.time_shift, 0.0, open_low=True)
        check_number("estimate_guidance", self.estimate_guidance)
        check_number("valence_from", self.valence_from, 0.0, 1.0)
        check_number("restart_from", self.restart_from, 0.0, 1.0, open_low=True, open_high=True)
        if self.estimate_from not in ESTIMATE_FROM:
            raise ValueError(f"estimate_from must be one of {', '.join(map(repr, ESTIMATE_FROM))}, "
                             f"got {self.estimate_from!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}")
        if self.guide is not None and (not isinstance(self.guide, str) or not self.guide or self.guide == "none"):
            raise ValueError(f"guide must be None, 'auto' or a model path, got {self.guide!r}")
        if self.guidance is not None:
            check_number("guidance", self.guidance, 0.0)      # x_guide + g (x_model - x_guide): g < 0 flips it
        if self.guidance_interval is not None:
            object.__setattr__(self, "guidance_interval", check_interval(self.guidance_interval))

    def replace(self, **changes: Any) -> "SamplerConfig":
        """A copy with ``changes`` (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.guidance_interval is not None:
            d["guidance_interval"] = list(self.guidance_interval)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SamplerConfig":
        """From a mapping of some fields (the rest at their defaults).

        Raises:
            ValueError: for a key that names no field (listed with the known ones), or a bad value.
        """
        d = check_fields(cls, dict(d))
        if d.get("guidance_interval") is not None:
            d["guidance_interval"] = tuple(d["guidance_interval"])
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> "SamplerConfig":
        """From a JSON file of some fields (an experiment's arm: the fields it changes).

        Raises:
            ValueError: naming the file, for a file that is not a JSON object of known fields.
        """
        try:
            d = json.loads(Path(path).read_text())
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: a sampler config is a JSON object of SamplerConfig fields")
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def coerce(cls, value: "SamplerConfig | Mapping[str, Any] | str | Path | None") -> "SamplerConfig":
        """A config from a config, a mapping of fields, a JSON file's path, or ``None`` (the defaults).

        Raises:
            SettingTypeError: for anything else.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, (str, Path)):
            return cls.from_file(value)
        raise SettingTypeError(f"sampler must be a SamplerConfig, a dict of its fields, a JSON file's path or None, got "
                        f"{type(value).__name__}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
