"""Image data: Fashion-MNIST from IDX files (Debian's ``dataset-fashion-mnist``) and ImageFolder trees.

* :func:`read_idx` reads an IDX file (optionally ``.gz``), checking its magic number and sizes.
* :func:`fashion_mnist` gives ``(images uint8 (N, 28, 28), labels int64 (N,))`` for ``"train"`` (60,000)
  or ``"test"`` (10,000) from ``$UNITE_MOL_FASHION_MNIST`` or ``/usr/share/datasets/fashion-mnist``.
* :func:`image_folder` loads the ImageNet layout (``root/<class>/*.JPEG``) with the standard resize and
  centre crop, as tensors in [-1, 1].
* :func:`image_batches` turns tensors into an epoch of :class:`ImageBatch`es, deterministic per epoch.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from unite_mol.images.adapter import ImageBatch

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array (the MNIST file format).

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: on a bad magic number, an unknown type code, or a size that does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} not found")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a valid gzip file: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes) but the file holds {len(body)} bytes")
    arr = np.frombuffer(body, dtype=dtype).reshape(shape)
    return arr.astype(arr.dtype.newbyteorder("="))  # native byte order, and a writable copy


def fashion_mnist(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images (N, 28, 28) uint8 and labels (N,) int64.

    Raises:
        ValueError: for an unknown split.
        FileNotFoundError: when the files are missing (``apt-get install dataset-fashion-mnist``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; choose 'train' or 'test'")
    root = Path(root or os.environ.get("UNITE_MOL_FASHION_MNIST") or FASHION_MNIST_DIR)
    prefix = "train" if split == "train" else "t10k"
    img, lab = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not img.exists():
        raise FileNotFoundError(f"Fashion-MNIST not found at {root}: install the Debian package "
                                "dataset-fashion-mnist or set UNITE_MOL_FASHION_MNIST")
    images, labels = read_idx(img), read_idx(lab)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"{root}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels.astype(np.int64)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float (N, C, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.asarray(images)).float() / 127.5 - 1.0
    return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)


def image_folder(root: str | Path, image_size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All images of an ImageFolder tree (``root/<class>/*``), resized and centre-cropped, in [-1, 1].

    Returns (images (N, 3, S, S), labels (N,), class names). Loads everything into memory: meant for the
    small folders used here; for ImageNet itself use ``torchvision.datasets.ImageFolder`` with the same
    transform (:func:`standard_transform`).

    Raises:
        FileNotFoundError: if ``root`` does not exist or holds no class folders with images.
    """
    from torchvision.datasets import ImageFolder

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} not found (expected root/<class>/*.JPEG)")
    try:
        ds = ImageFolder(str(root), transform=standard_transform(image_size))
    except (FileNotFoundError, RuntimeError) as exc:
        raise FileNotFoundError(f"{root}: no images in the ImageFolder layout root/<class>/*.JPEG ({exc})") from exc
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    return torch.stack(xs), torch.tensor(ys), list(ds.classes)


def standard_transform(image_size: int):
    """Resize the short side to ``image_size``, centre-crop, to tensor in [-1, 1]."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(image_size), transforms.CenterCrop(image_size),
                               transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])


class ImageBatches(Sequence[ImageBatch]):
    """One epoch of batches of in-memory images, shuffled deterministically by (seed, epoch)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, seed: int, epoch: int):
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))

    def __len__(self) -> int:
        return len(self.order) // self.batch_size

    def __getitem__(self, i: int) -> ImageBatch:
        idx = self.order[i * self.batch_size: (i + 1) * self.batch_size]
        return ImageBatch(self.images[idx], self.labels[idx])
