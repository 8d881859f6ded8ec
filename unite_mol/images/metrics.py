"""Image metrics: PSNR, SSIM, and Frechet distances in a feature space.

* :func:`psnr` and :func:`ssim` (Gaussian window 11, sigma 1.5; images in [-1, 1]).
* :func:`frechet_distance`: ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians.
* FID proper needs the Inception network's weights, which cannot be downloaded here:
  :func:`inception_features` takes a local ``inception_v3`` state_dict file (torchvision's layout), and
  ``python -m unite_mol.images.evaluate --inception-weights FILE`` reports FID beside FD-FMNIST.
* Because of that, runs here report **FD-FMNIST**: the Frechet distance in the 128-d penultimate
  features of :class:`FashionClassifier`, a small CNN the project trains
  (``python -m unite_mol.images.classifier``). rFD (reconstructions vs originals) and gFD (samples vs
  the test set) use it. It is not comparable with published FIDs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for images in [-1, 1] (peak-to-peak 2).  (B, C, H, W) -> (B,)"""
    mse = (a.float() - b.float()).pow(2).mean(dim=(1, 2, 3)).clamp(min=1e-12)
    return 10 * torch.log10(4.0 / mse)


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) for images in [-1, 1].  (B, C, H, W) -> (B,)"""
    a, b = (a.float() + 1) / 2, (b.float() + 1) / 2
    c = a.shape[1]
    g = _gauss()
    w = (g[:, None] * g[None, :]).expand(c, 1, 11, 11).to(a)
    f = lambda x: F.conv2d(x, w, groups=c)  # noqa: E731  (valid convolution)
    mu_a, mu_b = f(a), f(b)
    saa, sbb, sab = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return m.mean(dim=(1, 2, 3))


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Frechet distance between N(mu1, s1) and N(mu2, s2).

    ``tr sqrtm(s1 s2)`` is computed as the sum of the square roots of the eigenvalues of the symmetric
    ``r s2 r`` with ``r = sqrtm(s1)`` (the same number as the general matrix square root, about 4x faster
    at FID's 2048 dimensions, and never complex).
    """
    eps = 1e-6 * np.eye(len(s1))  # keeps the square root defined for rank-deficient covariances
    w, v = np.linalg.eigh(s1 + eps)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(r @ (s2 + eps) @ r)
    tr_covmean = float(np.sqrt(np.clip(lam, 0, None)).sum())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


class FashionClassifier(nn.Module):
    """A small CNN for 28x28 Fashion-MNIST; its 128-d penultimate layer is the FD-FMNIST feature space."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@torch.no_grad()
def classifier_features(model: FashionClassifier, images: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    return np.concatenate([model.features(images[i: i + batch].float()).cpu().numpy() for i in range(0, len(images), batch)])


def fd_fmnist(model: FashionClassifier, a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between two image sets in the classifier's feature space."""
    return frechet_distance(*gaussian_stats(classifier_features(model, a)), *gaussian_stats(classifier_features(model, b)))


def load_inception(weights_path: str | Path) -> nn.Module:
    """torchvision's inception_v3 from a local state_dict, its classifier removed (2048-d pool features).

    The state_dict is torchvision's layout, with or without the auxiliary head (``AuxLogits.*``); nothing
    is downloaded.

    Raises:
        FileNotFoundError: if the weights file is missing.
        ValueError: if it is not a state_dict of tensors or does not fit inception_v3 (keys listed).
    """
    import torchvision

    from unite_mol.model_files import check_state_dict

    if not Path(weights_path).is_file():
        raise FileNotFoundError(f"Inception weights {weights_path} not found; FID needs a local inception_v3 state_dict")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files; keep its message
        raise ValueError(f"cannot read Inception weights from {weights_path}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{weights_path} is not a state_dict of tensors (FID needs torchvision's inception_v3 one)")
    aux = any(k.startswith("AuxLogits.") for k in state)
    net = torchvision.models.inception_v3(weights=None, aux_logits=aux, init_weights=False)
    check_state_dict(net, state, source=weights_path)
    net.load_state_dict(state)
    net.fc = nn.Identity()
    return net.eval()


@torch.no_grad()
def inception_features(weights: str | Path | nn.Module, images: torch.Tensor, batch: int = 64) -> np.ndarray:
    """2048-d pool features of inception_v3 (for FID): ``weights`` is a state_dict file or :func:`load_inception`'s net.

    ``images`` are ``(N, C, H, W)`` in [-1, 1] (the range the Inception weights were trained on, so no
    further normalisation); one channel is repeated to three; every image is resized to 299 x 299.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_inception`, for a path.
    """
    net = weights if isinstance(weights, nn.Module) else load_inception(weights)
    net.eval()
    out = []
    for i in range(0, len(images), batch):
        x = images[i: i + batch].float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(net(x).cpu().numpy())
    return np.concatenate(out)
