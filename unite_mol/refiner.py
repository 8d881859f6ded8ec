"""Geometry-aware final stage of the molecule decoder: coordinate refinement and bond orders.

The decoder trunk reads latents atom by atom through attention that never sees a distance, and its
linear coordinate head passes latent error straight into positions (about 0.8 A per latent unit on the
first shipped model). Molecule stability needs bond lengths right to 0.01-0.02 A. This stage looks at
the decoded geometry itself and corrects it:

* per layer, pair features ``e_ij = MLP(a(h_i) + b(h_j) + r(rbf(d_ij)))`` from the atoms' hidden states
  and a Gaussian basis of their current distance (Angstrom, fine spacing around bond lengths);
* an E(3)-equivariant coordinate update ``x_i += sum_j c_ij (x_i - x_j) / |x_i - x_j|``, a learned push
  or pull along each pair (rotating or translating the input rotates or translates the output), with
  ``c_ij = 0.2 A * tanh(lin(e_ij)) * envelope(d_ij)``: bounded per layer and local (a cosine cutoff at
  3 A, bonds and angles), which keeps training stable (an unbounded sum over all pairs diverged);
* a hidden-state update from the masked mean of ``e_ij`` (invariant to atom order);
* optionally, bond-order logits per pair from the last layer's symmetrised features (classes: none,
  single, double, triple, aromatic), trained on the data's bonds.

The coordinate and hidden-state outputs start as the identity (zero-initialised last layers), so adding
this stage to a trained model changes nothing until it has learnt something. Distances and coordinate
updates are computed in float32 under autocast.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unite_mol.core.model import RMSNorm

#: Bond classes of the bond head: index = order, 0 = no bond, 4 = aromatic (as in :mod:`unite_mol.molecule`).
BOND_CLASSES = ("none", "single", "double", "triple", "aromatic")
#: what each bond class adds to an atom's valence (aromatic 1.5, as in Nikitin et al. 2025's counting)
BOND_VALENCE = (0.0, 1.0, 2.0, 3.0, 1.5)
#: the distance basis' smallest exponent (exp(-80) = 1.8e-35)
RBF_FLOOR = -80.0


def pair_mask(mask: torch.Tensor) -> torch.Tensor:
    """Real, distinct atom pairs.  (B, N) -> (B, N, N)"""
    eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
    return mask[:, :, None] & mask[:, None, :] & ~eye


class RefineLayer(nn.Module):
    """One round of pair messages: a coordinate update along pair directions and a hidden-state update."""

    def __init__(self, width: int, pair_width: int, num_rbf: int, max_step: float = 0.2):
        super().__init__()
        self.max_step = max_step   # Angstrom: the most one pair can push or pull in one layer
        self.norm = RMSNorm(width)
        self.a = nn.Linear(width, pair_width)
        self.b = nn.Linear(width, pair_width, bias=False)
        self.r = nn.Linear(num_rbf, pair_width, bias=False)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(pair_width, pair_width), nn.SiLU())
        self.coef = nn.Linear(pair_width, 1)
        self.h_out = nn.Linear(pair_width, width)
        for m in (self.coef, self.h_out):      # start as the identity
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, h: torch.Tensor, x: torch.Tensor, rbf: torch.Tensor, unit: torch.Tensor,
                pm: torch.Tensor, envelope: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h (B, N, W), x (B, N, 3) Angstrom, rbf (B, N, N, R), unit (B, N, N, 3), pm and envelope (B, N, N)."""
        hn = self.norm(h)                                                             # (B, N, W)
        e = self.a(hn)[:, :, None] + self.b(hn)[:, None, :] + self.r(rbf.to(hn.dtype))  # (B, N, N, P)
        e = self.mlp(e) * pm.unsqueeze(-1)                                            # (B, N, N, P)
        c = torch.tanh(self.coef(e).squeeze(-1).float()) * self.max_step * envelope   # (B, N, N)  Angstrom
        x = x + (c.unsqueeze(-1) * unit).sum(2)                                       # (B, N, 3)
        deg = pm.sum(2, keepdim=True).clamp(min=1).to(e.dtype)                        # (B, N, 1)
        h = h + self.h_out(e.sum(2) / deg)                                            # (B, N, W)
        return h, x, e


class GeometryRefiner(nn.Module):
    """``layers`` rounds of :class:`RefineLayer` on decoded coordinates, plus an optional bond head.

    Args:
        width: the decoder's hidden width.
        layers: refinement rounds (>= 1).
        pair_width: width of the pair features.
        num_rbf, rbf_max: Gaussian distance basis, ``num_rbf`` centres from 0 to ``rbf_max`` Angstrom.
        bond_head: also predict bond-order logits per pair.
    """

    def __init__(self, width: int, *, layers: int = 3, pair_width: int = 64, num_rbf: int = 48,
                 rbf_max: float = 4.0, move_cutoff: float = 3.0, bond_head: bool = False):
        super().__init__()
        self.move_cutoff = move_cutoff
        if layers < 1:
            raise ValueError(f"GeometryRefiner needs layers >= 1, got {layers}")
        self.layers = nn.ModuleList(RefineLayer(width, pair_width, num_rbf) for _ in range(layers))
        self.register_buffer("centres", torch.linspace(0.0, rbf_max, num_rbf), persistent=False)
        self.gamma = (num_rbf / rbf_max) ** 2          # Gaussian width = centre spacing
        self.bond = nn.Linear(pair_width, len(BOND_CLASSES)) if bond_head else None

    def geometry(self, x: torch.Tensor, pm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distance basis (B, N, N, R) and unit vectors x_i - x_j (B, N, N, 3) of all slot pairs, and the
        coordinate-message envelope (B, N, N), a cosine cutoff at ``move_cutoff``, zero outside real pairs;
        float32. The basis and unit vectors are not masked: every use of them is (pair features by ``pm``,
        coordinate messages by the envelope), which saves two passes over the pair tensors."""
        vec = x[:, :, None, :] - x[:, None, :, :]                                    # (B, N, N, 3)
        dist = vec.pow(2).sum(-1).add(1e-12).sqrt()                                   # (B, N, N)
        unit = vec / dist.clamp(min=1e-3).unsqueeze(-1)                               # (B, N, N, 3)
        # exponents below RBF_FLOOR give a basis value under 2e-35 either way; clamping them keeps torch's exp
        # off its slow path for arguments past float32's underflow (9x faster on this CPU)
        arg = (-self.gamma * (dist.unsqueeze(-1) - self.centres).pow(2)).clamp(min=RBF_FLOOR)
        envelope = 0.5 * (torch.cos(torch.pi * dist.clamp(max=self.move_cutoff) / self.move_cutoff) + 1)
        return torch.exp(arg), unit, envelope * pm                                    # (B, N, N, R) ...

    def forward(self, h: torch.Tensor, x: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h (B, N, W) decoder states, x (B, N, 3) coordinates in Angstrom, mask (B, N).

        Returns refined coordinates (B, N, 3) in Angstrom (zero at padding) and bond logits
        (B, N, N, 5), symmetric in (i, j), or ``None`` without a bond head.
        """
        pm = pair_mask(mask)                                                          # (B, N, N)
        x = x.float()
        e = None
        for layer in self.layers:
            with torch.autocast(device_type=x.device.type, enabled=False):
                rbf, unit, envelope = self.geometry(x, pm)
            h, x, e = layer(h, x, rbf, unit, pm, envelope)
        x = x * mask.unsqueeze(-1)
        logits = None
        if self.bond is not None:
            logits = self.bond(0.5 * (e + e.transpose(1, 2))).float()                 # (B, N, N, 5)
        return x, logits


def bond_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of bond classes over real pairs i < j.  logits (B, N, N, 5), target (B, N, N) int."""
    upper = torch.triu(pair_mask(mask), diagonal=1)
    return F.cross_entropy(logits[upper], target[upper].long())


def bonds_from_logits(logits: torch.Tensor) -> list[tuple[int, int, int]]:
    """Bond rows ``(i, j, order)`` (i < j, order 1-4) from one molecule's (N, N, 5) logits (argmax)."""
    cls = logits.argmax(-1)
    cls = torch.triu(cls, diagonal=1)
    idx = cls.nonzero()
    return [(int(i), int(j), int(cls[i, j])) for i, j in idx]


def charges_from_bonds(numbers, bonds) -> np.ndarray:
    """Formal charges that a neutral molecule's bonds call for: N with four bonds' worth of valence is N+,
    and an O with one single bond to such an N+ is O- (nitro groups, N-oxides, zwitterions of QM9).
    Atoms in aromatic bonds and everything else stay neutral, so a radical or over-bonded atom stays
    visible to the metrics. ``bonds``: (M, 3) rows ``(i, j, order)``, order 4 aromatic.  -> (N,) int64
    """
    numbers = np.asarray(numbers)
    valence = np.zeros(len(numbers))
    aromatic = np.zeros(len(numbers), dtype=bool)
    for i, j, o in np.asarray(bonds, dtype=np.int64).reshape(-1, 3):
        valence[[i, j]] += o
        aromatic[[i, j]] |= o == 4
    charges = np.zeros(len(numbers), dtype=np.int64)
    cation = (numbers == 7) & (valence == 4) & ~aromatic   # aromatic N-H is neutral (pyrrole): left alone
    charges[cation] = 1
    for i, j, o in np.asarray(bonds, dtype=np.int64).reshape(-1, 3):
        for a, b in ((i, j), (j, i)):
            if o == 1 and numbers[a] == 8 and valence[a] == 1 and cation[b] and charges[a] == 0:
                charges[a] = -1
    return charges
