"""``python -m unite_mol.images.sample``: class-conditional samples from an image model, as a PNG grid."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> None:
    from torchvision.utils import save_image

    save_image((images.float() + 1) / 2, str(path), nrow=nrow, padding=1)


def write_grids(model, probe, folder: Path, *, steps: int = 20) -> None:
    """``recon.png`` (originals over reconstructions) and ``samples.png`` (one row per class, 8 each)."""
    from unite_mol.images.adapter import reconstruct_images, sample_images

    rec = reconstruct_images(model, probe)
    save_grid(torch.cat([probe.images, rec]), folder / "recon.png", nrow=len(probe))
    k = max(model.adapter.config.num_classes, 1)
    labels = torch.arange(k).repeat_interleave(8)
    save_grid(sample_images(model, labels, steps=steps), folder / "samples.png", nrow=8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.images.sample", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="model path (RUN/model)")
    p.add_argument("--out", required=True, help="PNG file")
    p.add_argument("--per-class", type=int, default=8, help="samples per class")
    p.add_argument("--steps", type=int, default=50, help="ODE steps")
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (1 = none)")
    p.add_argument("--seed", type=int, default=0, help="seed")
    args = p.parse_args(argv)
    from unite_mol.images.adapter import sample_images
    from unite_mol.images.io import load_image_model

    model = load_image_model(args.model)
    k = max(model.adapter.config.num_classes, 1)
    labels = torch.arange(k).repeat_interleave(args.per_class)
    imgs = sample_images(model, labels, seed=args.seed, steps=args.steps, guidance=args.guidance)
    save_grid(imgs, Path(args.out), nrow=args.per_class)
    print(f"wrote {len(imgs)} samples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
