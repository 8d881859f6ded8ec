"""Image model files: the format of :mod:`unite_mol.model_files` under domain ``"images"``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unite_mol.core import GEConfig, UniteModel
from unite_mol.model_files import load_model_files, save_model_files
from unite_mol.runtime import pick_device


def save_image_model(path: str | Path, model: UniteModel, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``path.pt`` and ``path.json`` atomically; returns the ``.pt`` path."""
    return save_model_files(path, model, domain="images", extra=extra)[0]


def _build_from_sidecar(ge_config: GEConfig, image_config: dict, meta: dict) -> UniteModel:
    from unite_mol.images.adapter import ImageAdapter, ImageConfig

    vae = bool(meta.get("vae", False))
    adapter = ImageAdapter(ImageConfig.from_dict(image_config), ge_config.width, ge_config.decoder_width)
    return UniteModel(adapter, ge_config, shared_weights=bool(meta.get("shared_weights", not vae)), vae=vae)


def load_image_model(path: str | Path, *, device: str = "cpu") -> UniteModel:
    """Load an image model in eval mode.

    Raises:
        FileNotFoundError: if ``path.pt`` or ``path.json`` is missing.
        ValueError: for a sidecar that is not an image model, a corrupt file or weights that do not match it.
    """
    dev = pick_device(device)
    return load_model_files(path, domain="images", build=_build_from_sidecar).to(dev)
