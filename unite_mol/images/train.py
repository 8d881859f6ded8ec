"""``python -m unite_mol.images.train``: UNITE (or the two-stage baseline) on images, same path as molecules.

Training goes through :func:`unite_mol.core.entry.train_entry`, as for every entry of every domain: the
two-stage denoiser sees the class ids with UNITE's condition dropout, FLOPs of both stages are counted
(``entry.json``), and with ``--budget`` the two-stage baseline gets half of it per stage.

Data: ``--data fashion-mnist`` (the Debian package's IDX files) or a folder in the ImageNet layout
(``PATH/<class>/*.JPEG``). The run folder gets the trainer's files plus ``model.pt``/``model.json`` (EMA
weights), ``recon.png`` (originals over reconstructions) and ``samples.png`` (one row per class) at every
checkpoint. An existing run folder is resumed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def build_parser() -> argparse.ArgumentParser:
    from unite_mol.images.adapter import IMAGE_PRESETS

    p = argparse.ArgumentParser(prog="python -m unite_mol.images.train", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run-dir", required=True, help="run folder; an existing one is resumed")
    p.add_argument("--preset", default="IM-T", choices=sorted(IMAGE_PRESETS), help="image model preset")
    p.add_argument("--data", default="fashion-mnist", help="'fashion-mnist' or an ImageFolder path")
    p.add_argument("--batch-size", type=int, default=128, help="images per step")
    p.add_argument("--steps", type=int, default=20_000, help="optimiser steps (LR schedule length)")
    p.add_argument("--budget", default=None, help="wall-clock budget, e.g. 60m (two-stage: split in half)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--flow-copies", type=int, default=2, help="denoising copies per step")
    p.add_argument("--two-stage", action="store_true", help="train the two-stage VAE-latent baseline instead")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"], help="bf16 autocast")
    p.add_argument("--ckpt-every", type=int, default=500, help="checkpoint every N steps")
    return p


def load_data(spec: str, image_size: int):
    from unite_mol.images.data import fashion_mnist, image_folder, to_tensor

    if spec == "fashion-mnist":
        imgs, labels = fashion_mnist("train")
        return to_tensor(imgs), torch.from_numpy(labels)
    x, y, _ = image_folder(spec, image_size)
    return x, y


def main(argv: list[str] | None = None) -> int:
    from unite_mol.core.entry import train_entry
    from unite_mol.core.trainer import TrainConfig
    from unite_mol.core.unite import UniteConfig
    from unite_mol.images.adapter import IMAGE_PRESETS, ImageBatch, build_image_model
    from unite_mol.images.data import ImageBatches
    from unite_mol.images.io import save_image_model
    from unite_mol.images.sample import write_grids
    from unite_mol.runtime import parse_duration, uncompiled

    args = build_parser().parse_args(argv)
    try:
        budget = parse_duration(args.budget) if args.budget else None
        tcfg = TrainConfig(steps=args.steps, budget_s=budget, lr=args.lr, seed=args.seed,
                           lr_schedule="cosine" if budget is None else "cosine-budget", device=args.device,
                           amp=args.amp, ckpt_every=args.ckpt_every)
        ucfg = UniteConfig(flow_copies=args.flow_copies)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    entry = "two-stage" if args.two_stage else "unite"
    images, labels = load_data(args.data, IMAGE_PRESETS[args.preset][0].image_size)
    run = Path(args.run_dir)
    torch.manual_seed(args.seed)

    def build(*, shared_weights: bool, vae: bool):  # the image models: shared weights unless a VAE
        return build_image_model(args.preset, vae=vae)

    def batches(epoch: int):
        return ImageBatches(images, labels, args.batch_size, seed=args.seed, epoch=epoch)

    def on_checkpoint(trainer) -> None:
        ema = uncompiled(trainer.ema_model()).cpu().eval()
        save_image_model(run / "model", ema, extra={"training": {"step": trainer.step, "elapsed_s": trainer.elapsed,
                                                                  "data": args.data, "two_stage": args.two_stage}})
        write_grids(ema, ImageBatch(images[:16], labels[:16]), trainer.run_dir)

    # images get no augmentation (none was ever applied here); every entry goes through the same function
    _, record = train_entry(build, batches, entry=entry, unite=ucfg, train=tcfg, run_dir=run,
                            on_checkpoint=on_checkpoint)
    if record["stopped"] == "signal" and record["stopped_in"] == "stage1":
        print("stopped by a signal during stage 1; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
