"""``python -m unite_mol.images.classifier``: train the Fashion-MNIST classifier behind FD-FMNIST.

FID needs Inception weights, which cannot be downloaded here, so image runs on this machine report the
Frechet distance in the 128-d penultimate features of :class:`~unite_mol.images.metrics.FashionClassifier`
(rFD for reconstructions, gFD for samples). The project trains that network once, with a fixed seed, on
the Fashion-MNIST training split and ships it as ``unite_mol/images/pretrained/fmnist-classifier.pt``
(state_dict) + ``.json`` (test accuracy, how it was made). FD-FMNIST numbers are only comparable between
runs that use the same classifier file; the JSON's SHA-256 names it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from unite_mol.images.metrics import FashionClassifier

SHIPPED = Path(__file__).resolve().parent / "pretrained" / "fmnist-classifier.pt"


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_classifier(path: str | Path | None = None) -> FashionClassifier:
    """The shipped (or given) classifier, in eval mode.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a FashionClassifier state_dict (corrupt or another network).
    """
    from unite_mol.model_files import check_state_dict

    pt = Path(path) if path is not None else SHIPPED
    if not pt.is_file():
        raise FileNotFoundError(f"classifier weights {pt} not found; make them with `python -m unite_mol.images.classifier`")
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files; keep its message
        raise ValueError(f"cannot read classifier weights from {pt}: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{pt} does not hold a state_dict")
    model = FashionClassifier()
    check_state_dict(model, state, source=pt)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def accuracy(model: FashionClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    hits = sum(int((model(images[i: i + batch]).argmax(1) == labels[i: i + batch]).sum()) for i in range(0, len(images), batch))
    return hits / len(images)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 3, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, progress: bool = True) -> FashionClassifier:
    """Adam on cross-entropy with random horizontal flips; images (N, 1, 28, 28) in [-1, 1]."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = FashionClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(images) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    bar = tqdm(total=steps, desc="classifier", disable=not progress, mininterval=5)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for i in range(len(images) // batch_size):
            idx = order[i * batch_size: (i + 1) * batch_size]
            x, y = images[idx], labels[idx]
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    from unite_mol.files import atomic_open
    from unite_mol.runtime import git_commit
    from unite_mol.images.data import fashion_mnist, to_tensor

    p = argparse.ArgumentParser(prog="python -m unite_mol.images.classifier", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=str(SHIPPED), help="weights file (.pt; a .json sidecar is written beside it)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the 60,000 training images")
    p.add_argument("--seed", type=int, default=0, help="seed")
    args = p.parse_args(argv)
    try:
        xtr, ytr = fashion_mnist("train")
        xte, yte = fashion_mnist("test")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.time()
    model = train_classifier(to_tensor(xtr), torch.from_numpy(ytr).long(), epochs=args.epochs, seed=args.seed)
    wall = time.time() - t0
    acc = accuracy(model, to_tensor(xte), torch.from_numpy(yte).long())
    out = Path(args.out).with_suffix(".pt")
    with atomic_open(out) as fh:
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, fh)
    meta = {"network": "unite_mol.images.metrics.FashionClassifier", "feature_dim": 128,
            "data": "Fashion-MNIST train (60,000), Debian package dataset-fashion-mnist",
            "test_accuracy": round(acc, 4), "epochs": args.epochs, "seed": args.seed, "train_wall_s": round(wall, 1),
            "torch_threads": torch.get_num_threads(), "commit": git_commit(), "sha256": sha256(out),
            "command": "python -m unite_mol.images.classifier " + " ".join(argv if argv is not None else sys.argv[1:])}
    with atomic_open(out.with_suffix(".json"), "w") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
    print(f"test accuracy {acc:.4f}; {out} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
