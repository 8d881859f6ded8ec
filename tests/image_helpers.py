"""Small shared fixtures of the image tests: IDX files and a fake Fashion-MNIST folder."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch


def write_idx(path: Path, arr: np.ndarray, code: int) -> None:
    """``arr`` as an IDX file (gzipped when the name ends in ``.gz``)."""
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape)
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def fake_fashion_mnist(folder: Path, monkeypatch, n: int) -> None:
    """``n`` random train and test images in the IDX layout, and the environment pointing at them; seeds torch."""
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, size=(n, 28, 28), dtype=np.uint8), 0x08)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8), 0x08)
    monkeypatch.setenv("UNITE_MOL_FASHION_MNIST", str(folder))
    torch.manual_seed(0)
