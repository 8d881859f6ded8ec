"""Small geometry helpers shared by training summaries and metrics: optimal superposition (Kabsch)."""

from __future__ import annotations

import numpy as np


def kabsch_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The proper rotation R (det +1) minimising ``|| a_c @ R - b_c ||`` for centred (N, 3) point sets."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """RMSD between two (N, 3) point sets with the same atom order after optimal proper rotation.

    Raises:
        ValueError: if the shapes differ or are not (N, 3).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"kabsch_rmsd needs two (N, 3) arrays of the same shape, got {a.shape} and {b.shape}")
    r = kabsch_rotation(a, b)
    diff = (a - a.mean(0)) @ r - (b - b.mean(0))
    return float(np.sqrt((diff ** 2).sum(1).mean()))
