"""``python -m unite_mol.images.train``: UNITE (or the two-stage baseline) on images, same trainer as molecules.

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
    from unite_mol.core import TwoStageConfig, UniteConfig, freeze_vae, latent_flow_loss, unite_loss, vae_loss
    from unite_mol.core.trainer import TrainConfig, Trainer
    from unite_mol.images.adapter import ImageBatch, build_image_model
    from unite_mol.images.data import ImageBatches
    from unite_mol.images.io import save_image_model
    from unite_mol.images.sample import write_grids
    from unite_mol.runtime import parse_duration, uncompiled

    args = build_parser().parse_args(argv)
    try:
        budget = parse_duration(args.budget) if args.budget else None
        tcfg = TrainConfig(steps=args.steps, budget_s=None if budget is None else (budget / 2 if args.two_stage else budget),
                           lr=args.lr, seed=args.seed, lr_schedule="cosine" if budget is None else "cosine-budget", device=args.device, amp=args.amp, ckpt_every=args.ckpt_every)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    model = build_image_model(args.preset, vae=args.two_stage)
    images, labels = load_data(args.data, model.adapter.config.image_size)
    batches = lambda epoch: ImageBatches(images, labels, args.batch_size, seed=args.seed, epoch=epoch)  # noqa: E731
    probe = ImageBatch(images[:16], labels[:16])
    run = Path(args.run_dir)

    def on_checkpoint(trainer) -> None:
        ema = uncompiled(trainer.ema_model()).cpu().eval()
        save_image_model(run / "model", ema, extra={"training": {"step": trainer.step, "elapsed_s": trainer.elapsed,
                                                                  "data": args.data, "two_stage": args.two_stage}})
        write_grids(ema, probe, trainer.run_dir)

    if args.two_stage:
        ts = TwoStageConfig(flow_copies=args.flow_copies)
        t1 = Trainer(model, lambda m, b, g: vae_loss(m, b, g, ts), batches, tcfg, run / "stage1")
        if t1.fit()["stopped"] == "signal":  # interrupted: stage 1 is checkpointed; do not start stage 2
            print("stopped by a signal during stage 1; run the same command again to resume", file=sys.stderr)
            return 130
        model = t1.ema_model()
        freeze_vae(model)
        t2 = Trainer(model, lambda m, b, g: latent_flow_loss(m, b, g, ts), batches, tcfg, run / "stage2",
                     on_checkpoint=lambda tr: (on_checkpoint(tr)))
        t2.fit()
    else:
        ucfg = UniteConfig(flow_copies=args.flow_copies)
        Trainer(model, lambda m, b, g: unite_loss(m, b, g, ucfg), batches, tcfg, run, on_checkpoint=on_checkpoint).fit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
