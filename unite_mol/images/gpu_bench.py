"""``python -m unite_mol.images.gpu_bench``: UNITE-B at 256 px on one GPU, in minutes.

Makes a synthetic ImageNet-layout folder (random JPEGs in ``train/<wnid>/``), loads it with the standard
resize + centre crop, and measures training images/s (bf16 autocast, the UNITE objective with
``--flow-copies`` denoising copies), sampling images/s (Heun, ``--steps``), and peak GPU memory. Writes
a JSON with the numbers, the command, the device and the package commit. ``--dry-run`` runs the same
code with the tiny preset on the CPU for 2 steps (covered by a test).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def make_folder(root: Path, classes: int, per_class: int, size: int, seed: int = 0) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root / "train" / f"n{c:08d}"
        d.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size + 32, size + 16, 3), dtype=np.uint8)).save(d / f"{k}.JPEG", quality=90)
    return root / "train"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.images.gpu_bench", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="gpu_bench.json", help="JSON results file")
    p.add_argument("--workdir", default="/tmp/unite_gpu_bench", help="where the synthetic folder is made")
    p.add_argument("--batch-size", type=int, default=64, help="training batch")
    p.add_argument("--train-steps", type=int, default=30, help="timed training steps (after 5 warm-up steps)")
    p.add_argument("--sample-batch", type=int, default=64, help="images sampled together")
    p.add_argument("--steps", type=int, default=50, help="Heun steps for sampling")
    p.add_argument("--flow-copies", type=int, default=4, help="denoising copies per step")
    p.add_argument("--dry-run", action="store_true", help="tiny preset, CPU, 2 steps (a smoke test)")
    args = p.parse_args(argv)

    from unite_mol.core import UniteConfig, unite_loss
    from unite_mol.images.adapter import ImageBatch, build_image_model, sample_images
    from unite_mol.images.data import image_folder
    from unite_mol.runtime import git_commit, pick_device, use_bf16

    dry = args.dry_run
    device = pick_device("cpu" if dry else "auto")
    preset = "IM-T" if dry else "IM-B"
    overrides = {"image_size": 32, "channels": 3, "patch_size": 4, "num_classes": 4} if dry else {}
    model = build_image_model(preset, **overrides).to(device)
    size = model.adapter.config.image_size
    classes = 4 if dry else 16
    t0 = time.time()
    folder = make_folder(Path(args.workdir), classes, 4 if dry else 16, size)
    x, y, _ = image_folder(folder, size)
    data_s = time.time() - t0
    bs = 4 if dry else args.batch_size
    warm, timed = (1, 2) if dry else (5, args.train_steps)
    reps = (bs + len(x) - 1) // len(x)
    x, y = x.repeat(reps, 1, 1, 1)[:bs], y.repeat(reps)[:bs]
    batch = ImageBatch(x, y).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(0)
    cfg = UniteConfig(flow_copies=args.flow_copies)
    amp = use_bf16("auto", device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = unite_loss(model, batch, gen, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    for _ in range(warm):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.time()
    for _ in range(timed):
        last = step()
    sync()
    train_s = time.time() - t0
    model.eval()
    n_s = 2 if dry else args.sample_batch
    steps = 2 if dry else args.steps
    t0 = time.time()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        imgs = sample_images(model, torch.arange(n_s) % classes, steps=steps)
    sync()
    sample_s = time.time() - t0
    res = {
        "preset": preset, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "parameters": int(sum(p_.numel() for p_ in model.parameters())), "image_size": size,
        "latent_tokens": model.adapter.num_latents, "latent_dim": model.config.latent_dim,
        "batch_size": bs, "flow_copies": args.flow_copies, "train_steps_timed": timed,
        "train_images_per_s": bs * timed / train_s, "last_loss": last,
        "sample_images_per_s": n_s / sample_s, "sample_heun_steps": steps,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        "data_prep_s": data_s, "commit": git_commit(), "torch": torch.__version__, "finite": bool(torch.isfinite(imgs).all()),
    }
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
