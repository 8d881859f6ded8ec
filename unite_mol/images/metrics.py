"""Image metrics: PSNR, SSIM, and Frechet distances in a feature space.

* :func:`psnr` and :func:`ssim` (Gaussian window 11, sigma 1.5; images in [-1, 1]).
* :func:`frechet_distance`: ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians.
* FID proper needs the Inception network's weights, which cannot be downloaded here:
  :func:`inception_features` takes a local ``inception_v3`` state_dict file.
* Because of that, runs here report **FD-FMNIST**: the Frechet distance in the 128-d penultimate
  features of :class:`FashionClassifier`, a small CNN the project trains
  (``python -m unite_mol.images.classifier``). rFD (reconstructions vs originals) and gFD (samples vs
  the test set) use it. It is not comparable with published FIDs.
"""

from __future__ import annotations

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
    """Frechet distance between N(mu1, s1) and N(mu2, s2)."""
    from scipy import linalg

    eps = 1e-6 * np.eye(len(s1))  # keeps the square root defined for rank-deficient covariances
    covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


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


def inception_features(weights_path: str, images: torch.Tensor, batch: int = 64) -> np.ndarray:
    """2048-d pool features of torchvision's inception_v3 loaded from a local state_dict (for FID).

    Raises:
        FileNotFoundError: if the weights file is missing.
    """
    from pathlib import Path

    import torchvision

    if not Path(weights_path).is_file():
        raise FileNotFoundError(f"Inception weights {weights_path} not found; FID needs a local inception_v3 state_dict")
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    net.fc = nn.Identity()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i: i + batch].float()
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(net(x).cpu().numpy())
    return np.concatenate(out)
