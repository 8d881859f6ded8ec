"""What an image run trains: :class:`ImageTrainConfig`, and how a resumed run keeps it.

The config holds everything that makes one arm of a study differ from another (model preset, data, batch,
entry, the UNITE objective's switches, the latent's normalisation, the latent slots' positions, the baseline's KL weight, the size of the
learning-curve subset). ``python -m unite_mol.images.train`` writes it into the run's ``config.json`` (under
``"image_training"``, through the trainer's ``extra_state``) and into the model sidecar. Running the command
again on a folder that holds a checkpoint resumes it with the saved config: flags left out take the saved
values, a flag that asks for another value is refused (:func:`resolve`), so an arm cannot change half-way.
How to optimise (steps, budget, LR, seed) is :class:`unite_mol.core.trainer.TrainConfig`'s and may change on
resume (the trainer warns), e.g. a larger ``--budget`` to train on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from unite_mol.core.entry import two_stage_config
from unite_mol.core.model import check_fields
from unite_mol.core.unite import UniteConfig
from unite_mol.images.adapter import IMAGE_PRESETS, ImageConfig

#: the config fields that only UNITE's objective has (refused with ``two_stage``), with their flags
UNITE_ONLY = {"flow_weight": "--flow-weight", "stop_grad": "--no-stop-grad", "shared_weights": "--separate-weights",
              "decoder_noise_prob": "--decoder-noise-prob", "latent_norm_stop_grad": "--latent-norm-stop-grad"}
#: the config fields that only the two-stage baseline has (refused without ``two_stage``), with their flags
TWO_STAGE_ONLY = {"kl_weight": "--kl-weight"}
#: the name of the config's block in ``config.json``
CONFIG_KEY = "image_training"


@dataclass(frozen=True)
class ImageTrainConfig:
    """One image run's model, data and objective (validated on construction).

    Raises:
        ValueError: naming the field or the flag that does not apply to the entry.
    """

    preset: str = "IM-T"
    data: str = "fashion-mnist"           # "fashion-mnist" or an ImageFolder path
    batch_size: int = 128
    two_stage: bool = False               # the two-stage baseline (VAE, then a latent flow) instead of UNITE
    flow_copies: int = 2                  # denoising copies per step (both entries)
    flow_weight: float = 1.0              # UNITE: weight of the flow loss; 0 = tokenizer only (no denoising pass)
    stop_grad: bool = True                # UNITE: the flow loss does not reach the clean latent
    latent_norm_stop_grad: bool = False   # UNITE: ... nor the latent LayerNorm's gain and bias (UniteConfig's)
    shared_weights: bool = True           # UNITE: one GE tokenizes and denoises (False: a separate denoiser GE)
    decoder_noise_prob: float = 0.5       # UNITE: share of the batch decoded from lightly noised latents
    fixed_latent_norm: bool = False       # the latent LayerNorm without gain or bias (GEConfig.latent_affine=False)
    slot_pos: str = "sincos"              # latent slots' positions (ImageConfig.slot_pos): "sincos" | "learned"
    kl_weight: float = 1e-3               # two-stage: the VAE's KL weight
    curve_images: int = 256               # test images scored (PSNR, SSIM) at every checkpoint; 0 = none

    def __post_init__(self) -> None:
        if self.preset not in IMAGE_PRESETS:
            raise ValueError(f"unknown image preset {self.preset!r}; choose one of {sorted(IMAGE_PRESETS)}")
        ImageConfig.from_dict({**IMAGE_PRESETS[self.preset][0].to_dict(), **self.image_overrides()})   # its checks
        if self.batch_size < 1 or self.curve_images < 0:
            raise ValueError(f"ImageTrainConfig.batch_size must be >= 1 and curve_images >= 0, got "
                             f"{self.batch_size} and {self.curve_images}")
        off = UNITE_ONLY if self.two_stage else TWO_STAGE_ONLY
        changed = [flag for name, flag in off.items() if getattr(self, name) != _default(name)]
        if changed:
            raise ValueError(f"{', '.join(changed)} {'do' if len(changed) > 1 else 'does'} not apply to "
                             f"{'the two-stage baseline' if self.two_stage else 'UNITE (only to --two-stage)'}")
        self.unite()                                            # UniteConfig's ranges
        two_stage_config(self.unite(), kl_weight=self.kl_weight)   # TwoStageConfig's ranges

    @property
    def entry(self) -> str:
        """The :data:`unite_mol.core.entry.ENTRIES` name (both UNITE switches at once: ``unite`` with both set)."""
        if self.two_stage:
            return "two-stage"
        if self.stop_grad != self.shared_weights:
            return "unite-separate" if self.stop_grad else "unite-no-stopgrad"
        return "unite"

    def unite(self) -> UniteConfig:
        """The UNITE objective (the baseline derives its flow settings from it)."""
        return UniteConfig(flow_copies=self.flow_copies, flow_weight=self.flow_weight, stop_grad=self.stop_grad,
                           shared_weights=self.shared_weights, decoder_noise_prob=self.decoder_noise_prob,
                           latent_norm_stop_grad=self.latent_norm_stop_grad)

    def ge_overrides(self) -> dict[str, Any]:
        """GEConfig fields this config sets on the preset's."""
        return {"latent_affine": False} if self.fixed_latent_norm else {}

    def image_overrides(self) -> dict[str, Any]:
        """ImageConfig fields this config sets on the preset's."""
        return {"slot_pos": self.slot_pos}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ImageTrainConfig":
        return cls(**check_fields(cls, d))


def _default(name: str) -> Any:
    return next(f.default for f in fields(ImageTrainConfig) if f.name == name)


def saved_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The :class:`ImageTrainConfig` fields a run folder was started with, if it holds a checkpoint to resume
    (``RUN/checkpoint.pt`` or, for the baseline, ``RUN/stage1/checkpoint.pt``) and its ``config.json`` says;
    None for a fresh folder or one written before the config was saved.

    Raises:
        ValueError: if that ``config.json`` cannot be read.
    """
    for folder in (Path(run_dir), Path(run_dir) / "stage1"):
        path = folder / "config.json"
        if (folder / "checkpoint.pt").exists() and path.exists():
            try:
                block = json.loads(path.read_text()).get(CONFIG_KEY)
            except (OSError, ValueError, AttributeError) as exc:
                raise ValueError(f"cannot read the run's config {path}: {exc}") from exc
            return dict(block) if isinstance(block, dict) else None
    return None


def resolve(given: dict[str, Any], saved: dict[str, Any] | None) -> ImageTrainConfig:
    """The run's config: ``saved`` (a resumed run) or the defaults, with the fields ``given`` on the command line.

    Raises:
        ValueError: if a given field differs from the saved run's, or the result is not a valid config.
    """
    if saved is None:
        return ImageTrainConfig.from_dict(given)
    cfg = ImageTrainConfig.from_dict({"slot_pos": "learned", **saved})   # a run begun before slot_pos: learned ones
    clash = {k: (v, getattr(cfg, k)) for k, v in given.items() if getattr(cfg, k) != v}
    if clash:
        what = "; ".join(f"{k} = {old!r} there, {new!r} here" for k, (new, old) in clash.items())
        raise ValueError(f"this run folder was started with another config ({what}); rerun without those flags "
                         "(or with the run's values) to resume it, or give a fresh --run-dir")
    return cfg
