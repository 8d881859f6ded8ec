"""``python -m unite_mol.images.train``: UNITE (or the two-stage baseline) on images, same path as molecules.

Training goes through :func:`unite_mol.core.entry.train_entry`, as for every entry of every domain: the
two-stage denoiser sees the class ids with UNITE's condition dropout, FLOPs of both stages are counted
(``entry.json``), and with ``--budget`` the two-stage baseline gets half of it per stage.

Ablation arms (issue 30) are flags of the same command: ``--flow-weight`` (0: tokenizer only, the denoising
pass is not run), ``--no-stop-grad``, ``--separate-weights``, ``--decoder-noise-prob`` (UNITE only),
``--fixed-latent-norm`` (both entries: the latent LayerNorm without gain or bias, a fixed latent scale),
``--slot-pos learned`` (both entries: the latent slots' positions learned alone, without the patches' fixed
sin-cos ones; the default before 2026-12-07) and
``--kl-weight`` (the baseline's VAE only). A flag that does not apply to the entry is refused.

Data: ``--data fashion-mnist`` (the Debian package's IDX files) or a folder in the ImageNet layout
(``PATH/<class>/*.JPEG``). The run folder gets the trainer's files plus ``model.pt``/``model.json`` (EMA
weights), ``recon.png`` (originals over reconstructions) and ``samples.png`` (one row per class) at every
checkpoint, and ``eval.jsonl`` (in each stage's folder for the baseline): PSNR and SSIM of the EMA model's
reconstructions of ``--curve-images`` fixed images (Fashion-MNIST: the first test images; an ImageFolder:
training images evenly spread over the folder) after every checkpoint, for learning curves
(:mod:`unite_mol.images.curves`). Checkpoints come 30 s into the run, then every ``--ckpt-every`` steps and
every ``--ckpt-every-s`` seconds.

An existing run folder is resumed with the config it was started with (``config.json``,
:mod:`unite_mol.images.train_config`): model and objective flags left out take the run's values, a flag that
asks for another value is refused. Steps, budget, LR and seed may change (the trainer warns).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import torch


# long: one statement per flag, in the order of --help
def build_parser() -> argparse.ArgumentParser:
    from unite_mol.images.adapter import IMAGE_PRESETS

    keep = argparse.SUPPRESS   # a flag left out is absent: the run's saved value (or the default) applies
    p = argparse.ArgumentParser(prog="python -m unite_mol.images.train", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run-dir", required=True, help="run folder; an existing one is resumed with its saved config")
    g = p.add_argument_group("what to train (saved in the run; a resumed run keeps it)")
    g.add_argument("--preset", default=keep, choices=sorted(IMAGE_PRESETS), help="image model preset (default IM-T)")
    g.add_argument("--data", default=keep, help="'fashion-mnist' (default) or an ImageFolder path")
    g.add_argument("--batch-size", type=int, default=keep, help="images per step (default 128)")
    g.add_argument("--flow-copies", type=int, default=keep, help="denoising copies per step (default 2)")
    g.add_argument("--two-stage", action="store_true", default=keep,
                   help="train the two-stage VAE-latent baseline instead (the budget is split in half)")
    g.add_argument("--flow-weight", type=float, default=keep,
                   help="UNITE: weight of the flow loss (default 1); 0 = tokenizer only, no denoising pass")
    g.add_argument("--no-stop-grad", dest="stop_grad", action="store_false", default=keep,
                   help="UNITE ablation: the flow loss's gradient also reaches the tokenization pass")
    g.add_argument("--separate-weights", dest="shared_weights", action="store_false", default=keep,
                   help="UNITE ablation: a separate denoiser GE (same size) instead of sharing the tokenizer's")
    g.add_argument("--latent-norm-stop-grad", action="store_true", default=keep,
                   help="UNITE: the stop-gradient also covers the latent LayerNorm's gain and bias in the denoising pass")
    g.add_argument("--decoder-noise-prob", type=float, default=keep,
                   help="UNITE: share of the batch decoded from lightly noised latents (default 0.5; 0 = none)")
    g.add_argument("--fixed-latent-norm", action="store_true", default=keep,
                   help="the latent LayerNorm without gain or bias: every latent token has unit variance")
    g.add_argument("--slot-pos", default=keep, choices=["sincos", "learned"],
                   help="latent slots' positions: the patches' fixed sin-cos plus learned (default), or learned alone "
                        "(before 2026-12-07)")
    g.add_argument("--kl-weight", type=float, default=keep, help="two-stage only: the VAE's KL weight (default 1e-3)")
    g.add_argument("--curve-images", type=int, default=keep,
                   help="images reconstructed after every checkpoint for the learning curve (default 256; 0 = none)")
    o = p.add_argument_group("how to optimise")
    o.add_argument("--steps", type=int, default=20_000, help="optimiser steps (LR schedule length)")
    o.add_argument("--budget", default=None, help="wall-clock budget, e.g. 60m (two-stage: split in half)")
    o.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    o.add_argument("--seed", type=int, default=0, help="seed")
    o.add_argument("--device", default="auto", help="auto, cpu, cuda")
    o.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"], help="bf16 autocast")
    o.add_argument("--ckpt-every", type=int, default=500, help="checkpoint every N steps")
    o.add_argument("--ckpt-every-s", type=float, default=300.0,
                   help="and every this many seconds (each checkpoint adds a learning-curve point)")
    return p


def run_config(args: argparse.Namespace):
    """The run's :class:`~unite_mol.images.train_config.ImageTrainConfig`: the saved one of a resumed folder
    or the defaults, with the flags given.

    Raises:
        ValueError: for a flag that clashes with the resumed run's config or does not apply to the entry.
    """
    from unite_mol.images.train_config import TWO_STAGE_ONLY, UNITE_ONLY, ImageTrainConfig, resolve, saved_config

    given = {f.name: getattr(args, f.name) for f in fields(ImageTrainConfig) if hasattr(args, f.name)}
    saved = saved_config(args.run_dir)
    two_stage = bool(given.get("two_stage", (saved or {}).get("two_stage", False)))
    flags = [flag for name, flag in (UNITE_ONLY if two_stage else TWO_STAGE_ONLY).items() if name in given]
    if flags:   # even at the default value: the flag says the caller thinks it matters
        raise ValueError(f"{', '.join(flags)} {'do' if len(flags) > 1 else 'does'} not apply to "
                         + ("the two-stage baseline (--two-stage)" if two_stage else "UNITE (only to --two-stage)"))
    return resolve(given, saved)


def load_data(spec: str, image_size: int):
    from unite_mol.images.data import fashion_mnist, image_folder, to_tensor

    if spec == "fashion-mnist":
        imgs, labels = fashion_mnist("train")
        return to_tensor(imgs), torch.from_numpy(labels)
    x, y, _ = image_folder(spec, image_size)
    return x, y


def curve_batch(spec: str, n: int, images: torch.Tensor, labels: torch.Tensor):
    """The fixed images of the learning curve: Fashion-MNIST's first ``n`` test images (the first of those
    ``images.evaluate`` reconstructs), or ``n`` training images evenly spread over an ImageFolder."""
    from unite_mol.images.adapter import ImageBatch
    from unite_mol.images.data import fashion_mnist, to_tensor

    if spec == "fashion-mnist":
        x, y = fashion_mnist("test")
        return ImageBatch(to_tensor(x[:n]), torch.from_numpy(y[:n]))
    idx = torch.linspace(0, len(images) - 1, min(n, len(images))).round().long()
    return ImageBatch(images[idx], labels[idx])


def main(argv: list[str] | None = None) -> int:
    from unite_mol.core.entry import train_entry
    from unite_mol.core.trainer import TrainConfig
    from unite_mol.images.adapter import IMAGE_PRESETS, ImageBatch, build_image_model
    from unite_mol.images.curves import record_point
    from unite_mol.images.data import ImageBatches
    from unite_mol.images.io import save_image_model
    from unite_mol.images.sample import write_grids
    from unite_mol.images.train_config import CONFIG_KEY
    from unite_mol.runtime import parse_duration, uncompiled

    args = build_parser().parse_args(argv)
    try:
        cfg = run_config(args)
        budget = parse_duration(args.budget) if args.budget else None
        tcfg = TrainConfig(steps=args.steps, budget_s=budget, lr=args.lr, seed=args.seed,
                           lr_schedule="cosine" if budget is None else "cosine-budget", device=args.device,
                           amp=args.amp, ckpt_every=args.ckpt_every, ckpt_every_s=args.ckpt_every_s)
        images, labels = load_data(cfg.data, IMAGE_PRESETS[cfg.preset][0].image_size)
        curve = curve_batch(cfg.data, cfg.curve_images, images, labels) if cfg.curve_images else None
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run = Path(args.run_dir)
    torch.manual_seed(args.seed)

    def build(*, shared_weights: bool, vae: bool):  # the entry says which architecture it needs
        return build_image_model(cfg.preset, vae=vae, shared_weights=shared_weights, ge_overrides=cfg.ge_overrides(),
                                 **cfg.image_overrides())

    def batches(epoch: int):
        return ImageBatches(images, labels, cfg.batch_size, seed=args.seed, epoch=epoch)

    def on_checkpoint(trainer) -> None:
        ema = uncompiled(trainer.ema_model()).cpu().eval()
        save_image_model(run / "model", ema, extra={"training": {
            "step": trainer.step, "elapsed_s": trainer.elapsed, "data": cfg.data, "two_stage": cfg.two_stage,
            "entry": cfg.entry, CONFIG_KEY: cfg.to_dict()}})
        write_grids(ema, ImageBatch(images[:16], labels[:16]), trainer.run_dir)

    def on_stage_checkpoint(trainer) -> None:   # every stage: the baseline's VAE learns in stage 1
        if curve is not None:
            record_point(trainer, curve)

    # images get no augmentation (none was ever applied here); every entry goes through the same function
    _, record = train_entry(build, batches, entry=cfg.entry, unite=cfg.unite(), train=tcfg, run_dir=run,
                            kl_weight=cfg.kl_weight, extra_state={"config": {CONFIG_KEY: cfg.to_dict()}},
                            on_checkpoint=on_checkpoint, on_stage_checkpoint=on_stage_checkpoint)
    if record["stopped"] == "signal" and record["stopped_in"] == "stage1":
        print("stopped by a signal during stage 1; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
