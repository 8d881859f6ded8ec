"""Representation similarity: linear CKA and mutual k-nearest-neighbour overlap (pure functions).

Both compare two sets of features of the *same* ``n`` items (rows), ``x`` (n, p) and ``y`` (n, q), e.g.
the hidden states of the same tokens in two passes of a network; the feature dimensions may differ.

* :func:`linear_cka`: centred kernel alignment with linear kernels (Kornblith et al., 2019),
  ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``K = x x^T``, ``L = y y^T`` and
  ``HSIC(K, L) = tr(K H L H)`` (``H`` the centring matrix; the ``(n - 1)^-2`` factors cancel). With
  column-centred features this equals ``||y^T x||_F^2 / (||x^T x||_F ||y^T y||_F)``, which is what is
  computed (O(n p q) instead of O(n^2) memory); :func:`linear_cka_gram` is the slow Gram-matrix form,
  kept as the reference the tests compare against. In [0, 1]; 1 for identical features; invariant to
  orthogonal transforms and isotropic scaling of either side, not to arbitrary invertible maps.
* :func:`mutual_knn`: the mean, over items, of the fraction of an item's ``k`` nearest neighbours
  (cosine similarity, itself excluded) that it has in both spaces (as in Huh et al., 2024). 1 for
  identical neighbourhoods; about ``k / (n - 1)`` for unrelated ones (:func:`knn_chance`).
* ``groups`` (both): an optional (n,) integer label per item. Features are then centred *within* each
  group before comparison, so a label both sides carry (an atom's element, an image token's position)
  cannot by itself make them look alike; what is left is how the two sides vary inside the groups.

Nothing here knows about models, passes or domains.
"""

from __future__ import annotations

import torch


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"features must be 2-D (items, features), got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"both sides must hold the same items (rows): {x.shape[0]} vs {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 items to compare, got {x.shape[0]}")


def group_centre(x: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    """Features (n, p) minus their column means, over all rows or, with ``groups`` (n,), within each group."""
    x = x.double()
    if groups is None:
        return x - x.mean(0, keepdim=True)
    if groups.shape != (x.shape[0],):
        raise ValueError(f"groups must be (n,) = ({x.shape[0]},), got {tuple(groups.shape)}")
    _, inv = torch.unique(groups, return_inverse=True)
    sums = torch.zeros(int(inv.max()) + 1, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, inv, x)
    counts = torch.bincount(inv).to(x.dtype)[:, None]
    return x - (sums / counts)[inv]


def linear_cka(x: torch.Tensor, y: torch.Tensor, *, groups: torch.Tensor | None = None) -> float:
    """Linear CKA of the same ``n`` items' features ``x`` (n, p) and ``y`` (n, q), in float64.

    Returns 0 when either side is constant (nothing to align).

    Raises:
        ValueError: for non-2-D inputs, different item counts or fewer than two items.
    """
    _check_pair(x, y)
    xc, yc = group_centre(x, groups), group_centre(y, groups)
    xx = torch.linalg.matrix_norm(xc.T @ xc)          # ||X^T X||_F = sqrt(HSIC(K, K)) up to (n-1)^2
    yy = torch.linalg.matrix_norm(yc.T @ yc)
    if xx == 0 or yy == 0:
        return 0.0
    return float((yc.T @ xc).pow(2).sum() / (xx * yy))


def linear_cka_gram(x: torch.Tensor, y: torch.Tensor) -> float:
    """The same linear CKA from the centred Gram matrices (HSIC form): O(n^2) memory, for small n / tests."""
    _check_pair(x, y)
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n                       # centring matrix (n, n)
    k = h @ (x.double() @ x.double().T) @ h                               # (n, n)
    l_ = h @ (y.double() @ y.double().T) @ h                              # (n, n)
    hsic = lambda a, b: (a * b).sum()                                     # tr(a b) for symmetric a, b
    den = torch.sqrt(hsic(k, k) * hsic(l_, l_))
    return 0.0 if den == 0 else float(hsic(k, l_) / den)


def cka_matrix(xs: list[torch.Tensor], ys: list[torch.Tensor], *, groups: torch.Tensor | None = None) -> list[list[float]]:
    """``[[linear_cka(xs[i], ys[j]) for j] for i]``, each side's centring and Gram done once.

    Raises:
        ValueError: as :func:`linear_cka`.
    """
    for x in xs:
        for y in ys[:1]:
            _check_pair(x, y)
    cx = [group_centre(x, groups) for x in xs]
    cy = [group_centre(y, groups) for y in ys]
    nx = [torch.linalg.matrix_norm(c.T @ c) for c in cx]
    ny = [torch.linalg.matrix_norm(c.T @ c) for c in cy]
    return [[0.0 if a == 0 or b == 0 else float((v.T @ u).pow(2).sum() / (a * b)) for v, b in zip(cy, ny)]
            for u, a in zip(cx, nx)]


def knn_indices(x: torch.Tensor, k: int, *, groups: torch.Tensor | None = None, chunk: int = 2048) -> torch.Tensor:
    """Each item's ``k`` nearest other items by cosine similarity (ties broken by index).  (n, p) -> (n, k)

    Raises:
        ValueError: unless ``1 <= k < n``.
    """
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, n - 1] = [1, {n - 1}], got {k}")
    f = group_centre(x, groups) if groups is not None else x.double()
    f = f / f.norm(dim=1, keepdim=True).clamp(min=1e-12)                   # (n, p) unit rows
    out = []
    for s in range(0, n, chunk):
        sim = f[s: s + chunk] @ f.T                                        # (c, n)
        rows = torch.arange(s, min(s + chunk, n))
        sim[torch.arange(len(rows)), rows] = -float("inf")                 # not its own neighbour
        out.append(sim.topk(k, dim=1).indices)                             # (c, k)
    return torch.cat(out)


def knn_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean fraction of shared neighbours between two neighbour-index tables (n, k) of the same items."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"neighbour tables must have the same (n, k) shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    shared = (a[:, :, None] == b[:, None, :]).any(-1).sum(1)               # (n,)
    return float(shared.double().mean() / a.shape[1])


def mutual_knn(x: torch.Tensor, y: torch.Tensor, *, k: int = 10, groups: torch.Tensor | None = None) -> float:
    """Mutual k-NN overlap of the same ``n`` items in two feature spaces, in [0, 1].

    Raises:
        ValueError: for mismatched inputs or ``k`` outside [1, n - 1].
    """
    _check_pair(x, y)
    return knn_overlap(knn_indices(x, k, groups=groups), knn_indices(y, k, groups=groups))


def knn_chance(n: int, k: int) -> float:
    """Expected :func:`mutual_knn` of two unrelated neighbourhoods of ``n`` items: ``k / (n - 1)``."""
    return k / (n - 1)
