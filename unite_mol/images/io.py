"""Image model files: ``NAME.pt`` (state_dict, ``weights_only``-loadable) + ``NAME.json`` sidecar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from unite_mol.core import GEConfig, UniteModel
from unite_mol.files import atomic_open
from unite_mol.generation import check_state_dict, git_commit


def save_image_model(path: str | Path, model: UniteModel, *, extra: dict[str, Any] | None = None) -> Path:
    from unite_mol import __version__

    base = Path(path).with_suffix("")
    meta = {"format": "unite_mol.model", "format_version": 1, "domain": "images", "package_version": __version__,
            "commit": git_commit(), "ge_config": model.config.to_dict(), "image_config": model.adapter.config.to_dict(),
            "vae": model.vae, **(extra or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_open(base.with_suffix(".pt")) as fh:
        torch.save(state, fh)
    with atomic_open(base.with_suffix(".json"), "w") as fh:
        fh.write(json.dumps(meta, indent=2))
    return base.with_suffix(".pt")


def load_image_model(path: str | Path, *, device: str = "cpu") -> UniteModel:
    """Raises ValueError for a sidecar that is not an image model or weights that do not match it."""
    from unite_mol.images.adapter import ImageAdapter, ImageConfig

    base = Path(path).with_suffix("")
    js, pt = base.with_suffix(".json"), base.with_suffix(".pt")
    if not js.is_file() or not pt.is_file():
        raise FileNotFoundError(f"model files {pt} / {js} not found")
    meta = json.loads(js.read_text())
    if meta.get("domain") != "images":
        raise ValueError(f"{js} is not a unite_mol image model (domain={meta.get('domain')!r})")
    ge = GEConfig.from_dict(meta["ge_config"])
    icfg = ImageConfig.from_dict(meta["image_config"])
    vae = bool(meta.get("vae", False))
    model = UniteModel(ImageAdapter(icfg, ge.width, ge.decoder_width), ge, shared_weights=not vae, vae=vae)
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files; keep its message
        raise ValueError(f"cannot read weights from {pt}: {exc}") from exc
    check_state_dict(model, state, source=pt)
    model.load_state_dict(state)
    model.meta = meta
    return model.to(device).eval()
