"""Batches of molecules for models: padded tensors plus masks, centring, random rotations, bucketing.

A :class:`MolBatch` holds ``numbers`` ``(B, N)`` (0 marks padding), ``positions`` ``(B, N, 3)`` in
Angstrom and ``mask`` ``(B, N)`` (True for real atoms). Every helper here respects the mask: padded
positions are kept at exactly zero, centring averages over real atoms only.

Randomness is explicit: functions that draw take a ``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from unite_mol.data.flat import FlatSplit
from unite_mol.molecule import Molecule


@dataclass
class MolBatch:
    numbers: torch.Tensor    # (B, N) int64, 0 = padding
    positions: torch.Tensor  # (B, N, 3) float32, zero at padding
    mask: torch.Tensor       # (B, N) bool
    bonds: torch.Tensor | None = None  # (B, N, N) int8 bond orders (0 none, 1-3, 4 aromatic), when known

    def to(self, device: torch.device | str) -> "MolBatch":
        return MolBatch(self.numbers.to(device), self.positions.to(device), self.mask.to(device),
                        None if self.bonds is None else self.bonds.to(device))

    @property
    def num_atoms(self) -> torch.Tensor:
        return self.mask.sum(dim=1)

    def __len__(self) -> int:
        return int(self.numbers.shape[0])

    def molecules(self) -> list[Molecule]:
        """Back to :class:`Molecule` objects (padding dropped)."""
        out = []
        for z, x, m in zip(self.numbers.cpu(), self.positions.detach().cpu().double(), self.mask.cpu()):
            out.append(Molecule(z[m].numpy(), x[m].numpy()))
        return out


def masked_center(positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Subtract each molecule's mean position over real atoms; padding stays zero.  (B, N, 3) -> (B, N, 3)"""
    m = mask.unsqueeze(-1).to(positions.dtype)                               # (B, N, 1)
    mean = (positions * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)  # (B, 1, 3)
    return (positions - mean) * m                                           # (B, N, 3)


def collate(molecules: Sequence[Molecule], *, center: bool = True, max_atoms: int | None = None) -> MolBatch:
    """Pad a list of molecules into a :class:`MolBatch`.

    Raises:
        ValueError: if a molecule has more atoms than ``max_atoms`` (the model's limit), naming it.
    """
    if len(molecules) == 0:
        raise ValueError("cannot collate an empty list of molecules")
    sizes = [m.num_atoms for m in molecules]
    if max_atoms is not None and max(sizes) > max_atoms:
        k = int(np.argmax(sizes))
        raise ValueError(f"molecule {k} ({molecules[k]!r}) has {sizes[k]} atoms; the model supports at most {max_atoms}")
    n = max(sizes)
    numbers = torch.zeros(len(molecules), n, dtype=torch.long)
    positions = torch.zeros(len(molecules), n, 3, dtype=torch.float32)
    for b, m in enumerate(molecules):
        numbers[b, : m.num_atoms] = torch.tensor(m.numbers)
        positions[b, : m.num_atoms] = torch.tensor(m.positions, dtype=torch.float32)
    mask = numbers > 0
    if center:
        positions = masked_center(positions, mask)
    return MolBatch(numbers, positions, mask)


def collate_arrays(numbers: np.ndarray, positions: np.ndarray, offsets: np.ndarray, rows: np.ndarray,
                   *, center: bool = True, bond_labels: tuple[np.ndarray, np.ndarray] | None = None) -> MolBatch:
    """Fast path for flat per-atom arrays (as in :class:`unite_mol.data.QM9Split`): molecules ``rows``.

    ``bond_labels``: ``(bond_offsets, bond_rows)`` as from :func:`unite_mol.data.bond_labels.qm9_bond_labels`,
    filling ``MolBatch.bonds``.
    """
    starts, ends = offsets[rows], offsets[rows + 1]
    sizes = ends - starts
    n = int(sizes.max())
    b = len(rows)
    col = np.arange(n)[None, :]
    valid = col < sizes[:, None]                                   # (B, N)
    src = np.where(valid, starts[:, None] + col, 0)                # (B, N)
    z = np.where(valid, numbers[src], 0)
    x = np.where(valid[..., None], positions[src], 0.0)
    out = MolBatch(torch.from_numpy(z.astype(np.int64)), torch.from_numpy(x.astype(np.float32)),
                   torch.from_numpy(valid))
    if center:
        out.positions = masked_center(out.positions, out.mask)
    if bond_labels is not None:
        from unite_mol.data.bond_labels import bond_matrix

        out.bonds = torch.from_numpy(bond_matrix(*bond_labels, rows, n))
    assert out.positions.shape == (b, n, 3)
    return out


def random_rotations(n: int, *, generator: torch.Generator | None = None, dtype=torch.float32,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` rotation matrices drawn uniformly from SO(3) (Haar measure).  -> (n, 3, 3)

    A normalised 4-D Gaussian is a uniform unit quaternion; e3nn turns it into a matrix. (e3nn's own
    ``o3.rand_matrix`` takes no generator, and randomness here must be explicit.)
    """
    from e3nn import o3

    q = torch.randn(n, 4, generator=generator, dtype=torch.float64, device=generator.device if generator is not None else device)
    q = q / q.norm(dim=-1, keepdim=True)
    return o3.quaternion_to_matrix(q).to(dtype=dtype, device=device)


def rotate(batch: MolBatch, rotations: torch.Tensor) -> MolBatch:
    """Rotate each molecule about the origin: ``x @ R^T``.  rotations: (B, 3, 3)"""
    pos = torch.einsum("bnj,bij->bni", batch.positions, rotations.to(batch.positions))  # (B, N, 3)
    return MolBatch(batch.numbers, pos * batch.mask.unsqueeze(-1), batch.mask, batch.bonds)


def random_rotation(batch: MolBatch, generator: torch.Generator) -> MolBatch:
    """The molecules' training augmentation: each molecule turned by its own uniformly random rotation
    drawn from ``generator`` (the ``augment`` of :func:`unite_mol.core.entry.train_entry`)."""
    return rotate(batch, random_rotations(len(batch), generator=generator, device=batch.positions.device))


def canonical_frame(batch: MolBatch, generator: torch.Generator | None = None) -> MolBatch:
    """Each molecule turned into its own principal-axes frame: centred, the axes of its position covariance
    (largest spread first) as x, y, z, each of the first two axes pointing where the atoms' third moment
    along it is positive, and z = x cross y, so the turn is a proper rotation (chirality is kept).

    The training alternative to :func:`random_rotation` (same signature; ``generator`` is unused): the
    latent distribution then holds molecules in one frame instead of every orientation. Frames of
    near-symmetric molecules (two equal spreads, a third moment near zero) are not unique; those molecules
    keep some orientations.
    """
    m = batch.mask.unsqueeze(-1).double()                                     # (B, N, 1)
    x = masked_center(batch.positions.double(), batch.mask)                   # (B, N, 3)
    cov = (x * m).transpose(1, 2) @ x                                         # (B, 3, 3)
    axes = torch.linalg.eigh(cov).eigenvectors.flip(-1)                       # (B, 3, 3) columns, largest first
    skew = ((x @ axes) ** 3 * m).sum(1)                                       # (B, 3)
    axes = axes * torch.where(skew[:, None, :] < 0, -1.0, 1.0).to(axes)
    z_axis = torch.linalg.cross(axes[..., 0], axes[..., 1], dim=-1)           # (B, 3)
    axes = torch.stack([axes[..., 0], axes[..., 1], z_axis], dim=-1)          # det +1
    pos = (x @ axes).to(batch.positions.dtype) * batch.mask.unsqueeze(-1)     # (B, N, 3)
    return MolBatch(batch.numbers, pos, batch.mask, batch.bonds)


#: orientations of training molecules: :func:`random_rotation` or :func:`canonical_frame`
FRAMES = ("random", "canonical")


class BucketBatchSampler:
    """Batches of similar-sized molecules, reshuffled every epoch, deterministic given (seed, epoch).

    Each epoch permutes the molecules, cuts the permutation into pools of ``pool`` batches, sorts each
    pool by size and cuts it into batches, then shuffles the batch order. Padding waste drops to a few
    percent while batches stay random.
    """

    def __init__(self, sizes: np.ndarray, batch_size: int, *, seed: int, pool: int = 50, drop_last: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.sizes = np.asarray(sizes)
        self.batch_size = batch_size
        self.seed = seed
        self.pool = pool
        self.drop_last = drop_last

    def epoch(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(len(self.sizes))
        chunk = self.batch_size * self.pool
        batches = []
        for start in range(0, len(perm), chunk):
            part = perm[start: start + chunk]
            part = part[np.argsort(self.sizes[part], kind="stable")]
            for s in range(0, len(part), self.batch_size):
                bt = part[s: s + self.batch_size]
                if len(bt) == self.batch_size or not self.drop_last:
                    batches.append(bt)
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def __len__(self) -> int:
        return len(self.epoch(0))

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.epoch(0))


class EpochBatches(Sequence[MolBatch]):
    """One epoch's batches, collated on access from flat arrays (with bond labels when given)."""

    def __init__(self, split: FlatSplit, index_batches: list[np.ndarray],
                 bond_labels: tuple[np.ndarray, np.ndarray] | None = None):
        self.split = split
        self.index_batches = index_batches
        self.bond_labels = bond_labels

    def __len__(self) -> int:
        return len(self.index_batches)

    def __getitem__(self, i):
        s = self.split
        return collate_arrays(s.numbers, s.positions, s.offsets, self.index_batches[i], bond_labels=self.bond_labels)
