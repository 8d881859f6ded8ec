"""The image adapter: images in, patch tokens + latent register tokens, pixels out.

Same core as the molecules, unchanged (:class:`unite_mol.core.UniteModel`). The image enters the GE
through its ``data_prefix`` door: patch embeddings (a strided convolution) with fixed 2-D sin-cos
positions, followed by ``num_latents`` latent register tokens (``slot_pos``: the patches' sin-cos
positions plus learned ones; ``ImageConfig.slot_pos = "learned"``: learned alone, as before 2026-12-07)
that hold noise in the tokenization pass, as in the paper. The latent is ``num_latents x latent_dim``; one
latent token per patch (``num_latents == (image_size / patch_size)^2``), so the ViT decoder (the core's
DecoderTrunk with learned positions) maps latent token k to patch k through a linear pixel head.

Class conditioning: class ids are the core's condition ids (``num_classes`` of them, plus the null id);
the tokenization pass always uses the null condition, the denoiser sees the class (dropped at random
for classifier-free guidance). Reconstruction loss: L2 (or L1), plus an optional perceptual term on
VGG16 features when the user gives a local weights file (nothing is downloaded).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unite_mol.core.model import check_fields
from unite_mol.core.unite import Tokens


@dataclass
class ImageBatch:
    images: torch.Tensor   # (B, C, H, W) in [-1, 1]
    labels: torch.Tensor   # (B,) class ids

    def to(self, device) -> "ImageBatch":
        return ImageBatch(self.images.to(device), self.labels.to(device))

    def __len__(self) -> int:
        return int(self.images.shape[0])


#: how the latent register tokens know their patch: the patches' fixed 2-D sin-cos positions plus learned ones
#: (slot identity from the first step on; the default since 2026-12-07), or learned positions alone (initialised
#: at 0.02 scale; earlier models: in UNITE the flow's gradient pins them near that start and reconstruction stays
#: poor, benchmarks/images/ablation)
SLOT_POS = ("sincos", "learned")


@dataclass(frozen=True)
class ImageConfig:
    """What the image adapter reads and how it scores reconstructions.

    Images are ``channels`` x ``image_size`` x ``image_size``, cut into square patches of ``patch_size``
    pixels (one latent token each); ``num_classes`` class ids condition the denoiser (0: unconditional).
    """

    image_size: int = 28
    channels: int = 1
    patch_size: int = 4
    num_classes: int = 10
    loss: str = "l2"                     # "l2" | "l1"
    perceptual_weight: float = 0.0       # > 0 needs perceptual_weights_path
    perceptual_weights_path: str | None = None
    slot_pos: str = "sincos"             # latent slots' positions: "sincos" (fixed 2-D + learned) | "learned"

    def __post_init__(self) -> None:
        if self.slot_pos not in SLOT_POS:
            raise ValueError(f"ImageConfig.slot_pos must be one of {', '.join(map(repr, SLOT_POS))}, got {self.slot_pos!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"ImageConfig.image_size ({self.image_size}) must be a multiple of patch_size ({self.patch_size})")
        if self.channels < 1 or self.num_classes < 0:
            raise ValueError("ImageConfig.channels must be >= 1 and num_classes >= 0")
        if self.loss not in ("l2", "l1"):
            raise ValueError(f"ImageConfig.loss must be 'l2' or 'l1', got {self.loss!r}")
        if self.perceptual_weight > 0 and not self.perceptual_weights_path:
            raise ValueError("a perceptual loss needs perceptual_weights_path: a local VGG16 state_dict file "
                             "(nothing can be downloaded)")

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ImageConfig":
        """From :meth:`to_dict`'s output; a dict without ``slot_pos`` (written before it existed) is ``"learned"``."""
        return cls(**check_fields(cls, {"slot_pos": "learned", **d}))


def sincos_2d(grid: int, width: int) -> torch.Tensor:
    """Fixed 2-D sin-cos positions.  -> (1, grid*grid, width)"""
    if width % 4:
        raise ValueError(f"width must be a multiple of 4 for 2-D sin-cos positions, got {width}")
    q = width // 4
    freqs = 1.0 / (10_000 ** (torch.arange(q, dtype=torch.float32) / q))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    parts = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        a = coord[:, None] * freqs[None]
        parts += [torch.sin(a), torch.cos(a)]
    return torch.cat(parts, dim=-1).unsqueeze(0)


class ImageAdapter(nn.Module):
    def __init__(self, config: ImageConfig, width: int, decoder_width: int):
        super().__init__()
        self.config = config
        c, p = config.channels, config.patch_size
        grid = config.image_size // p
        self.patch = nn.Conv2d(c, width, kernel_size=p, stride=p)
        self.register_buffer("patch_pos", sincos_2d(grid, width), persistent=False)
        self.latent_pos = nn.Parameter(torch.randn(1, config.num_patches, width) * 0.02)
        self.decoder_pos_embed = nn.Parameter(torch.randn(1, config.num_patches, decoder_width) * 0.02)
        self.pixel_head = nn.Linear(decoder_width, p * p * c)
        self.perceptual = None
        if config.perceptual_weight > 0:
            self.perceptual = VGGFeatures(config.perceptual_weights_path)

    @property
    def num_latents(self) -> int:
        return self.config.num_patches

    def embed(self, batch: ImageBatch) -> Tokens:
        x = self.patch(batch.images)                                  # (B, W, g, g)
        x = x.flatten(2).transpose(1, 2) + self.patch_pos.to(x.dtype)  # (B, L, W)
        b = x.shape[0]
        mask = torch.ones(b, self.num_latents, dtype=torch.bool, device=x.device)
        cond = batch.labels if self.config.num_classes > 0 else None
        return Tokens(mask=mask, data_prefix=x, cond=cond)

    def slot_pos(self, mask: torch.Tensor) -> torch.Tensor:
        if self.config.slot_pos == "sincos":
            return self.latent_pos + self.patch_pos.to(self.latent_pos.dtype)
        return self.latent_pos

    def decoder_pos(self, mask: torch.Tensor) -> torch.Tensor:
        return self.decoder_pos_embed

    def heads(self, h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        c, p = self.config.channels, self.config.patch_size
        g = self.config.image_size // p
        b = h.shape[0]
        x = self.pixel_head(h)                                        # (B, L, p*p*C)
        x = x.view(b, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)        # (B, C, g, p, g, p)
        return {"pixels": x.reshape(b, c, g * p, g * p)}             # (B, C, H, W)

    def reconstruction_loss(self, out: dict[str, torch.Tensor], batch: ImageBatch) -> tuple[torch.Tensor, dict[str, float]]:
        pred, target = out["pixels"].float(), batch.images.float()
        pix = (pred - target).abs().mean() if self.config.loss == "l1" else (pred - target).pow(2).mean()
        loss = pix
        logs = {"pixel": float(pix.detach())}
        if self.perceptual is not None:
            perc = self.perceptual.distance(pred, target)
            loss = loss + self.config.perceptual_weight * perc
            logs["perceptual"] = float(perc.detach())
        with torch.no_grad():
            mse = (pred.clamp(-1, 1) - target).pow(2).mean(dim=(1, 2, 3))
            logs["psnr"] = float((10 * torch.log10(4.0 / mse.clamp(min=1e-10))).mean())
        return loss, logs


class VGGFeatures(nn.Module):
    """Frozen VGG16 features from a local state_dict file, for an optional perceptual loss."""

    def __init__(self, weights_path: str):
        super().__init__()
        from pathlib import Path

        import torchvision

        if not Path(weights_path).is_file():
            raise FileNotFoundError(f"perceptual weights file {weights_path} not found (VGG16 state_dict)")
        vgg = torchvision.models.vgg16(weights=None)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        vgg.load_state_dict(state)
        self.features = vgg.features[:23].eval()
        for prm in self.features.parameters():
            prm.requires_grad_(False)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        fa, fb = self.features(a), self.features(b)
        return F.mse_loss(fa, fb)


#: Image presets: adapter settings and the core GE preset they use.
IMAGE_PRESETS: dict[str, tuple[ImageConfig, str, dict]] = {
    "IM-T": (ImageConfig(image_size=28, channels=1, patch_size=4), "GE-T", {"latent_dim": 8}),
    "IM-CPU": (ImageConfig(image_size=28, channels=1, patch_size=4), "GE-CPU", {"latent_dim": 8, "heads": 6}),
    "IM-B": (ImageConfig(image_size=256, channels=3, patch_size=16, num_classes=1000), "GE-B", {"latent_dim": 32}),
}


def build_image_model(preset_name: str = "IM-T", *, vae: bool = False, shared_weights: bool | None = None,
                      ge_overrides: dict | None = None, **image_overrides):
    """A UNITE image model (a :class:`unite_mol.core.UniteModel` with an :class:`ImageAdapter`).

    ``shared_weights``: one GE for tokenizing and denoising (default: yes, unless ``vae``, whose denoiser is
    always separate); ``ge_overrides``: GEConfig fields set on the preset's (e.g. ``latent_affine=False``);
    ``image_overrides``: ImageConfig fields.

    Raises:
        ValueError: for an unknown preset or field, or ``vae`` with ``shared_weights=True``.
    """
    from unite_mol.core import UniteModel, preset

    if preset_name not in IMAGE_PRESETS:
        raise ValueError(f"unknown image preset {preset_name!r}; choose one of {sorted(IMAGE_PRESETS)}")
    icfg, ge_name, ge_over = IMAGE_PRESETS[preset_name]
    icfg = ImageConfig.from_dict({**icfg.to_dict(), **image_overrides})
    ge_cfg = preset(ge_name, num_conditions=icfg.num_classes, **{**ge_over, **(ge_overrides or {})})
    shared = not vae if shared_weights is None else shared_weights
    return UniteModel(ImageAdapter(icfg, ge_cfg.width, ge_cfg.decoder_width), ge_cfg, shared_weights=shared, vae=vae)


@torch.no_grad()
def sample_images(model, labels: torch.Tensor, *, seed: int = 0, steps: int = 50, guidance: float = 1.0,
                  method: str = "heun") -> torch.Tensor:
    """Class-conditional samples (B, C, H, W) in [-1, 1]; guidance > 1 applies classifier-free guidance."""
    from unite_mol.core.samplers import guided, sample

    device = next(model.parameters()).device
    n, d = model.adapter.num_latents, model.config.latent_dim
    noise = torch.stack([torch.randn(n, d, generator=torch.Generator().manual_seed(seed * 1_000_003 + i))
                         for i in range(len(labels))]).to(device)
    mask = torch.ones(len(labels), n, dtype=torch.bool, device=device)
    labels = labels.to(device)
    null = torch.full_like(labels, model.ge.null_condition)
    fc, fu = model.sampling_denoiser(mask, labels), model.sampling_denoiser(mask, null)
    z = sample(guided(fc, fu, guidance), noise, steps=steps, method=method)
    return model.decode(z, mask)["pixels"].clamp(-1, 1)


def reconstruct_images(model, batch: ImageBatch, *, seed: int = 0) -> torch.Tensor:
    with torch.no_grad():
        z, mask = model.encode(batch, generator=torch.Generator(device=batch.images.device).manual_seed(seed))
        return model.decode(z, mask)["pixels"].clamp(-1, 1)
