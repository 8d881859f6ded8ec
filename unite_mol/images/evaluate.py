"""``python -m unite_mol.images.evaluate``: score image models side by side on Fashion-MNIST.

For every ``NAME=MODEL`` given (``MODEL`` = ``RUN/model`` of ``images.train``):

* reconstruction of the first ``--n`` test images: PSNR, SSIM and rFD (FD-FMNIST, reconstructions vs
  the same originals);
* generation of ``--n`` class-balanced samples per guidance scale (``--guidance 1,2``; 1 = no guidance):
  gFD (FD-FMNIST, samples vs the 10,000 test images) and the classifier's accuracy on the samples'
  intended classes (how well conditioning and guidance work).

A data row calibrates the scale: ``--n`` training images through the same FD code. FD-FMNIST uses the
shipped classifier (:mod:`unite_mol.images.classifier`); it is not comparable with published FIDs.

With ``--inception-weights FILE`` (a local torchvision ``inception_v3`` state_dict; nothing is
downloaded) every gFD column gets a FID column beside it (``FID_gG``: samples vs the test images in
Inception's 2048-d pool features, :func:`unite_mol.images.metrics.inception_features`), the data row
too, and ``machine.json`` records the weights' SHA-256. Inception at 299 x 299 is slow on a CPU: size
``--n`` accordingly.
Writes ``results.csv``, ``results.md``, ``machine.json``, and ``recon-NAME.png`` (originals over
reconstructions) and ``samples-NAME-gG.png`` (one row per class) into ``--out``; with ``--runs NAME=RUN_DIR``
also the runs' logs (``curves/NAME/``) and their learning curves (``curves.png``, ``curves.csv``,
``curves.md``: :mod:`unite_mol.images.curves`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def evaluate_model(model, clf, test_x: torch.Tensor, test_y: torch.Tensor, ref_stats, *, n: int, steps: int,
                   guidances: list[float], seed: int, out: Path, name: str,
                   inception: tuple[Any, tuple[np.ndarray, np.ndarray]] | None = None) -> dict[str, float]:
    """One model's row. ``inception``: (the net of :func:`~unite_mol.images.metrics.load_inception`, the
    reference's Gaussian statistics in its features), to add ``FID_gG`` beside every ``gFD_gG``."""
    from unite_mol.images.adapter import ImageBatch, reconstruct_images, sample_images
    from unite_mol.images.metrics import (classifier_features, frechet_distance, gaussian_stats, inception_features,
                                          psnr, ssim)
    from unite_mol.images.sample import save_grid

    row: dict[str, float] = {}
    x, y = test_x[:n], test_y[:n]
    t0 = time.time()
    rec = torch.cat([reconstruct_images(model, ImageBatch(x[i: i + 250], y[i: i + 250]), seed=seed) for i in range(0, n, 250)])
    row["recon_s"] = time.time() - t0
    row["psnr"] = float(psnr(rec, x).mean())
    row["ssim"] = float(ssim(rec, x).mean())
    row["rFD"] = frechet_distance(*gaussian_stats(classifier_features(clf, rec)), *gaussian_stats(classifier_features(clf, x)))
    save_grid(torch.cat([x[:16], rec[:16]]), out / f"recon-{name}.png", nrow=16)
    k = model.adapter.config.num_classes
    labels = torch.arange(k).repeat_interleave(max(1, n // k))
    for g in guidances:
        t0 = time.time()
        imgs = torch.cat([sample_images(model, labels[i: i + 250], seed=seed * 7919 + i, steps=steps, guidance=g)
                          for i in range(0, len(labels), 250)])
        tag = f"g{g:g}"
        row[f"sample_s_{tag}"] = time.time() - t0
        feats = classifier_features(clf, imgs)
        row[f"gFD_{tag}"] = frechet_distance(*gaussian_stats(feats), *ref_stats)
        if inception is not None:
            row[f"FID_{tag}"] = frechet_distance(*gaussian_stats(inception_features(inception[0], imgs)), *inception[1])
        with torch.no_grad():
            row[f"class_acc_{tag}"] = float((clf.head(torch.from_numpy(feats)).argmax(1) == labels).float().mean())
        grid = torch.cat([imgs[labels == c][:8] for c in range(k)])
        save_grid(grid, out / f"samples-{name}-{tag}.png", nrow=8)
    return row


# long: one linear command: the flags, then each model scored in turn
def main(argv: list[str] | None = None) -> int:
    from unite_mol.runtime import machine_info
    from unite_mol.files import atomic_open
    from unite_mol.images.classifier import SHIPPED, load_classifier, sha256
    from unite_mol.images.curves import write_curves
    from unite_mol.images.data import fashion_mnist, to_tensor
    from unite_mol.images.io import load_image_model
    from unite_mol.images.metrics import (classifier_features, frechet_distance, gaussian_stats, inception_features,
                                          load_inception)

    p = argparse.ArgumentParser(prog="python -m unite_mol.images.evaluate", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("models", nargs="+", help="NAME=MODEL_PATH (RUN/model)")
    p.add_argument("--out", required=True, help="results folder")
    p.add_argument("--n", type=int, default=1000, help="test images reconstructed and samples per guidance scale")
    p.add_argument("--steps", type=int, default=25, help="Heun steps")
    p.add_argument("--guidance", default="1,2", help="comma-separated guidance scales (1 = none)")
    p.add_argument("--classifier", default=str(SHIPPED), help="FD-FMNIST classifier weights")
    p.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="a local torchvision inception_v3 state_dict: also report FID (default: FD-FMNIST only)")
    p.add_argument("--runs", nargs="*", default=[],
                   help="NAME=RUN_DIR: copy the runs' logs and draw their learning curves (curves.png, curves.md)")
    p.add_argument("--seed", type=int, default=0, help="seed")
    args = p.parse_args(argv)
    t_start = time.time()
    try:
        pairs = [m.split("=", 1) for m in args.models]
        if any(len(q) != 2 for q in pairs):
            raise ValueError("models must be given as NAME=MODEL_PATH")
        guidances = [float(g) for g in args.guidance.split(",") if g.strip()]
        if args.n < 10 or not guidances:
            raise ValueError("--n must be >= 10 and --guidance must name at least one scale")
        clf = load_classifier(args.classifier)
        net = load_inception(args.inception_weights) if args.inception_weights else None
        models = [(name, load_image_model(path)) for name, path in pairs]
        xte, yte = fashion_mnist("test")
        xtr, _ = fashion_mnist("train")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test_x, test_y = to_tensor(xte), torch.from_numpy(yte).long()
    ref_stats = gaussian_stats(classifier_features(clf, test_x))
    train_x = to_tensor(xtr[np.random.default_rng(args.seed).choice(len(xtr), args.n, replace=False)])
    data_fd = frechet_distance(*gaussian_stats(classifier_features(clf, train_x)), *ref_stats)
    rows = [{"entry": f"data: {args.n} train images", f"gFD_g{guidances[0]:g}": data_fd}]
    inception = None
    if net is not None:
        print("[images.evaluate] Inception features of the test images (FID reference)", flush=True)
        inception = (net, gaussian_stats(inception_features(net, test_x)))
        rows[0][f"FID_g{guidances[0]:g}"] = frechet_distance(*gaussian_stats(inception_features(net, train_x)),
                                                            *inception[1])
    for name, model in models:
        print(f"[images.evaluate] {name}", flush=True)
        training = model.meta.get("training", {})
        row = {"entry": name, "params": int(sum(q.numel() for q in model.parameters())),
               "train_steps": training.get("step"), "train_s": training.get("elapsed_s"),
               **evaluate_model(model, clf, test_x, test_y, ref_stats, n=args.n, steps=args.steps,
                                guidances=guidances, seed=args.seed, out=out, name=name, inception=inception)}
        rows.append(row)
    for spec in args.runs:
        name, run = spec.split("=", 1)
        for f in Path(run).rglob("*"):
            if f.name in ("metrics.jsonl", "eval.jsonl", "loss.png", "entry.json"):
                dest = out / "curves" / name / f.relative_to(run)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, dest)
    if args.runs:   # the runs' learning curves (reconstruction of fixed test images at every checkpoint)
        write_curves(dict(spec.split("=", 1) for spec in args.runs), out)
    cols = ["entry", "params", "train_steps", "train_s", "psnr", "ssim", "rFD"]
    for g in guidances:
        cols += [f"gFD_g{g:g}"] + ([f"FID_g{g:g}"] if net is not None else []) + [f"class_acc_g{g:g}"]
    cols += ["recon_s"] + [f"sample_s_g{g:g}" for g in guidances]
    import pandas as pd

    df = pd.DataFrame(rows).reindex(columns=cols)
    with atomic_open(out / "results.csv", "w") as fh:
        df.to_csv(fh, index=False)
    def fmt(v) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "-"
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() and abs(v) >= 100 else f"{v:.4g}"
        return str(v)

    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(fmt(r) for r in df.astype(object).where(df.notna(), None).loc[i].tolist()) + " |" for i in df.index]
    machine = {**machine_info("python -m unite_mol.images.evaluate " + " ".join(argv if argv is not None else sys.argv[1:])),
               "classifier_sha256": sha256(args.classifier), "wall_s": round(time.time() - t_start, 1)}
    if args.inception_weights:
        machine["inception_weights"] = str(args.inception_weights)
        machine["inception_sha256"] = sha256(args.inception_weights)
    with atomic_open(out / "machine.json", "w") as fh:
        fh.write(json.dumps(machine, indent=2) + "\n")
    with atomic_open(out / "results.md", "w") as fh:
        fh.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
