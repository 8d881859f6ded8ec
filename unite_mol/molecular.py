"""The molecule adapter: atoms in, per-atom latent tokens, atoms out.

One latent token per atom (explicit hydrogens), no positional encoding over atom order: the model is
equivariant to atom order. The data embedding of atom i, added to its latent slot in the tokenization
pass, is the sum of

* an element embedding,
* a linear map of its centred coordinates (divided by ``coord_scale``, the data's coordinate std), and
* rotation-invariant descriptors of its neighbourhood built with e3nn: for neighbours j within
  ``cutoff``, a learned radial-and-element weight ``phi_c(r_ij, Z_j)`` times the spherical harmonics
  ``Y_lm(r_ij / |r_ij|)`` (l <= 2) summed over j gives equivariant features ``A_i``; their scalar part,
  a learned bilinear power spectrum per l and pseudoscalar triple products of the l = 1 parts are
  invariants; the pseudoscalars flip sign under reflection and so carry chirality.

The coordinates themselves are not invariant, so the latents live in the input's frame (as in ADiT);
training uses random rotations. The decoder heads predict element logits and coordinates; the
reconstruction loss is cross-entropy + coordinate MSE + pairwise-distance MSE (in units of
``coord_scale``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unite_mol import elements
from unite_mol.core.model import check_fields
from unite_mol.core.unite import Tokens
from unite_mol.data.batching import MolBatch
from unite_mol.bonds import kekule_orders
from unite_mol.refiner import BOND_VALENCE, GeometryRefiner, bond_loss, bonds_from_logits, pair_mask

#: valence guidance's target: the usual valence of a neutral atom (summed bond orders), a chemistry prior of
#: the generator's own, not an evaluator's table (elements missing here cannot be guided)
NEUTRAL_VALENCE: dict[str, int] = {"H": 1, "B": 3, "C": 4, "N": 3, "O": 2, "F": 1, "Si": 4, "P": 3, "S": 2,
                                   "Cl": 1, "Br": 1, "I": 1}


#: range of the distance basis of the GE's pair features (Angstrom)
PAIR_MIN_A, PAIR_MAX_A = 0.5, 4.5


@dataclass(frozen=True)
class MoleculeConfig:
    """Molecule-adapter settings. ``coord_scale`` and ``atom_count_hist`` are statistics of the data."""

    elements: tuple[int, ...] = (1, 6, 7, 8, 9)
    max_atoms: int = 29
    coord_scale: float = 1.0
    cutoff: float = 5.0
    num_radial: int = 8
    descriptor_channels: int = 16
    use_descriptors: bool = True
    coord_weight: float = 1.0
    dist_weight: float = 1.0
    atom_count_hist: tuple[int, ...] = ()   # counts of molecules with k atoms, k = 0..max_atoms
    refine_layers: int = 0                  # geometry-aware final stage (:mod:`unite_mol.refiner`); 0 = none
    refine_width: int = 64                  # its pair-feature width
    bond_head: bool = False                 # predict bond orders per pair (needs refine_layers >= 1)
    refine_detach: bool = True              # the refiner reads a detached decode: its losses train it alone
    local_weight: float = 0.0               # loss on short (< 2 A) distances, in units of (0.1 A)^2
    bond_weight: float = 1.0                # weight of the bond-order cross-entropy
    composition_hist: tuple[tuple[int, ...], ...] = ()   # rows (count of each element..., molecules): the data's
    #                                         compositions; non-empty = the denoiser is conditioned on a composition

    def __post_init__(self) -> None:
        if not self.elements:
            raise ValueError("MoleculeConfig.elements must name at least one element")
        for z in self.elements:
            elements.symbol(z)  # raises for unknown atomic numbers
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"MoleculeConfig.elements repeats an element: {self.elements}")
        if self.max_atoms < 1:
            raise ValueError(f"MoleculeConfig.max_atoms must be >= 1, got {self.max_atoms}")
        if not self.coord_scale > 0:
            raise ValueError(f"MoleculeConfig.coord_scale must be > 0, got {self.coord_scale}")
        if not self.cutoff > 0:
            raise ValueError(f"MoleculeConfig.cutoff must be > 0, got {self.cutoff}")
        if self.refine_layers < 0 or self.refine_width < 1:
            raise ValueError(f"MoleculeConfig.refine_layers must be >= 0 and refine_width >= 1, got "
                             f"{self.refine_layers} and {self.refine_width}")
        if self.bond_head and self.refine_layers < 1:
            raise ValueError("MoleculeConfig.bond_head needs refine_layers >= 1 (bonds are read from its pair features)")
        if self.local_weight < 0 or self.bond_weight < 0:
            raise ValueError(f"MoleculeConfig.local_weight and bond_weight must be >= 0, got {self.local_weight} "
                             f"and {self.bond_weight}")
        for row in self.composition_hist:
            if len(row) != len(self.elements) + 1 or min(row) < 0 or not 1 <= sum(row[:-1]) <= self.max_atoms \
                    or row[-1] < 1:
                raise ValueError(f"MoleculeConfig.composition_hist rows are (count of each of {len(self.elements)} "
                                 f"elements, molecules >= 1) with 1..{self.max_atoms} atoms; got {row}")
        if self.atom_count_hist and len(self.atom_count_hist) != self.max_atoms + 1:
            raise ValueError(f"MoleculeConfig.atom_count_hist needs max_atoms + 1 = {self.max_atoms + 1} entries, "
                             f"got {len(self.atom_count_hist)}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["elements"] = list(self.elements)
        d["atom_count_hist"] = list(self.atom_count_hist)
        d["composition_hist"] = [list(r) for r in self.composition_hist]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MoleculeConfig":
        d = check_fields(cls, d)
        for k in ("elements", "atom_count_hist"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        if "composition_hist" in d:
            d["composition_hist"] = tuple(tuple(int(v) for v in r) for r in d["composition_hist"])
        return cls(**d)

    @classmethod
    def from_data(cls, numbers: np.ndarray, positions: np.ndarray, offsets: np.ndarray, **overrides) -> "MoleculeConfig":
        """Statistics from flat training arrays: element set, max atoms, coordinate std, atom-count histogram."""
        sizes = np.diff(offsets)
        centred = positions - np.repeat(np.add.reduceat(positions, offsets[:-1]) / sizes[:, None], sizes, axis=0)
        kw = dict(elements=tuple(int(z) for z in np.unique(numbers)), max_atoms=int(sizes.max()),
                  coord_scale=float(np.sqrt((centred ** 2).mean())),
                  atom_count_hist=tuple(int(c) for c in np.bincount(sizes, minlength=int(sizes.max()) + 1)))
        kw.update(overrides)
        return cls(**kw)

    @staticmethod
    def composition_table(numbers: np.ndarray, offsets: np.ndarray,
                          elements: Sequence[int]) -> tuple[tuple[int, ...], ...]:
        """The data's compositions as ``composition_hist`` rows: (count of each of ``elements``, molecules),
        sorted, from flat atomic numbers and molecule offsets."""
        col = {int(z): i for i, z in enumerate(elements)}
        counts = np.zeros((len(offsets) - 1, len(elements)), dtype=np.int64)
        mol = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        np.add.at(counts, (mol, np.array([col[int(z)] for z in numbers])), 1)
        rows, freq = np.unique(counts, axis=0, return_counts=True)
        return tuple(tuple(int(v) for v in r) + (int(f),) for r, f in zip(rows, freq))


class NeighbourhoodDescriptors(nn.Module):
    """Rotation-invariant (and chirality-aware) descriptors of each atom's neighbourhood, via e3nn.

    Equivariant features ``A_i = sum_j phi(r_ij, Z_j) Y(r_ij)`` with e3nn's real spherical harmonics
    (l = 0, 1, 2; their rotation matrices are orthogonal), then invariants: the scalars ``A_0``, the
    bilinear power spectrum ``<A_l, W_l A_l>`` for l = 1, 2 and the pseudoscalar triple product
    ``A_1 . (U A_1 x V A_1)`` (which changes sign under reflection). Plain tensors only: no state
    beyond the learnable weights, so checkpoints stay portable.
    """

    def __init__(self, num_elements: int, width: int, *, cutoff: float, num_radial: int, channels: int):
        super().__init__()
        self.cutoff = cutoff
        self.num_radial = num_radial
        c = channels
        self.channels = c
        self.elem = nn.Embedding(num_elements + 1, 16)
        self.phi = nn.Sequential(nn.Linear(num_radial + 16, 64), nn.SiLU(), nn.Linear(64, c))
        self.mix1 = nn.Linear(c, c, bias=False)     # channel mixing keeps equivariance (acts on channels only)
        self.mix2 = nn.Linear(c, c, bias=False)
        self.mix_u = nn.Linear(c, c, bias=False)
        self.mix_v = nn.Linear(c, c, bias=False)
        self.out = nn.Linear(4 * c, width)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens (B, N) element ids (padding = num_elements), positions (B, N, 3) -> (B, N, width)."""
        inv = self.invariants(tokens, positions, mask)                                 # (B, N, 4C)
        return self.out(inv.to(positions.dtype)) * mask.unsqueeze(-1)                 # (B, N, width)

    def invariants(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, N, 4C): scalars, l=1 and l=2 power spectra (invariant), then C pseudoscalars (odd)."""
        from e3nn import o3
        from e3nn.math import soft_one_hot_linspace

        b, n = mask.shape
        with torch.autocast(device_type=positions.device.type, enabled=False):
            pos = positions.float()
            vec = pos[:, None, :, :] - pos[:, :, None, :]                              # (B, N, N, 3)  r_j - r_i
            dist = vec.norm(dim=-1)                                                    # (B, N, N)
            eye = torch.eye(n, dtype=torch.bool, device=pos.device)
            pair = mask[:, :, None] & mask[:, None, :] & ~eye & (dist < self.cutoff)   # (B, N, N)
            safe = torch.where(pair.unsqueeze(-1), vec, torch.ones_like(vec))          # no 0/0 for masked pairs
            sh = o3.spherical_harmonics([0, 1, 2], safe, normalize=True, normalization="component")  # (B, N, N, 9)
            dist = torch.where(pair, dist, torch.full_like(dist, self.cutoff))        # bessel basis is 0/0 at r = 0
            rbf = soft_one_hot_linspace(dist, 0.0, self.cutoff, self.num_radial, basis="bessel", cutoff=True)  # (B, N, N, R)
            envelope = 0.5 * (torch.cos(torch.pi * dist / self.cutoff) + 1)             # (B, N, N)
            ej = self.elem(tokens).float().unsqueeze(1).expand(b, n, n, -1)            # (B, N, N, 16)
            w = self.phi(torch.cat([rbf, ej], dim=-1)) * (envelope * pair).unsqueeze(-1)  # (B, N, N, C)
            a = torch.einsum("bijc,bijm->bicm", w, sh) / 4.0                           # (B, N, C, 9)
            a0, a1, a2 = a[..., 0], a[..., 1:4], a[..., 4:9]                           # (B,N,C), (B,N,C,3), (B,N,C,5)
            mix = lambda lin, x: lin(x.transpose(-1, -2)).transpose(-1, -2)            # noqa: E731  mix channels
            p1 = (a1 * mix(self.mix1, a1)).sum(-1)                                     # (B, N, C)
            p2 = (a2 * mix(self.mix2, a2)).sum(-1)                                     # (B, N, C)
            ps = (a1 * torch.cross(mix(self.mix_u, a1), mix(self.mix_v, a1), dim=-1)).sum(-1)  # (B, N, C) pseudoscalar
            return torch.cat([a0, p1, p2, ps], dim=-1)                                 # (B, N, 4C)


class MoleculeAdapter(nn.Module):
    """Molecules <-> latent token sets for :class:`unite_mol.core.UniteModel`."""

    def __init__(self, config: MoleculeConfig, width: int, decoder_width: int, *, pair_features: int = 0,
                 cond_features: int = 0, slot_features: int = 0):
        super().__init__()
        self.config = config
        self.pair_features = pair_features      # K of the GE's pair door (GEConfig.pair_features); 0 = unused
        # the denoising pass's conditions the GE reads (GEConfig.cond_features / slot_features): the element
        # counts, and each atom's element
        if cond_features not in (0, len(config.elements)) or slot_features not in (0, len(config.elements)):
            raise ValueError(f"the molecule adapter's conditions have one feature per element ({len(config.elements)});"
                             f" got cond_features={cond_features}, slot_features={slot_features}")
        if (cond_features or slot_features) and not config.composition_hist:
            raise ValueError("a denoiser conditioned on elements needs MoleculeConfig.composition_hist (the data's "
                             "compositions, drawn from when sampling)")
        self.cond_features, self.slot_features = cond_features, slot_features
        lookup = torch.full((elements.MAX_Z + 1,), -1, dtype=torch.long)
        lookup[list(config.elements)] = torch.arange(len(config.elements))
        self.register_buffer("z_to_token", lookup, persistent=False)
        self.register_buffer("token_to_z", torch.tensor(config.elements, dtype=torch.long), persistent=False)
        v = len(config.elements)
        self.elem_embed = nn.Embedding(v + 1, width)          # id v = padding
        self.coord_in = nn.Linear(3, width)
        self.descriptors = (NeighbourhoodDescriptors(v, width, cutoff=config.cutoff, num_radial=config.num_radial,
                                                     channels=config.descriptor_channels)
                            if config.use_descriptors else None)
        self.elem_head = nn.Linear(decoder_width, v)
        self.coord_head = nn.Linear(decoder_width, 3)
        self.refiner = (GeometryRefiner(decoder_width, layers=config.refine_layers, pair_width=config.refine_width,
                                        bond_head=config.bond_head)
                        if config.refine_layers > 0 else None)

    @property
    def num_elements(self) -> int:
        return len(self.config.elements)

    def element_tokens(self, numbers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Atomic numbers (B, N) -> element ids (B, N), padding -> num_elements.

        Raises:
            ValueError: for an element outside the model's vocabulary (named).
        """
        ids = self.z_to_token[numbers.clamp(0, elements.MAX_Z)]
        bad = (ids < 0) & mask
        if bad.any():
            z = int(numbers[bad][0])
            raise ValueError(f"unknown element {elements.SYMBOLS[z] if 0 < z <= elements.MAX_Z else z} (Z={z}) for "
                             f"this model, which knows {[elements.SYMBOLS[e] for e in self.config.elements]}")
        return torch.where(mask, ids, torch.full_like(ids, self.num_elements))

    def embed(self, batch: MolBatch) -> Tokens:
        mask = batch.mask                                                         # (B, N)
        if batch.numbers.shape[1] > self.config.max_atoms and int(batch.num_atoms.max()) > self.config.max_atoms:
            raise ValueError(f"a molecule has {int(batch.num_atoms.max())} atoms; this model supports at most "
                             f"{self.config.max_atoms}")
        ids = self.element_tokens(batch.numbers, mask)                            # (B, N)
        x = batch.positions / self.config.coord_scale                             # (B, N, 3)
        h = self.elem_embed(ids) + self.coord_in(x)                               # (B, N, W)
        if self.descriptors is not None:
            h = h + self.descriptors(ids, batch.positions, mask)                  # (B, N, W)
        pair = self.pair_geometry(batch.positions, mask) if self.pair_features > 0 else None
        return Tokens(mask=mask, data_add=h * mask.unsqueeze(-1), pair=pair, **self.conditions(ids, mask))

    def conditions(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The denoising pass's conditions of molecules with element ids (B, N) (padding ignored), those this
        model's GE reads: ``cond_vec`` (B, V), the composition, and ``slot_vec`` (B, N, V), each atom's
        element one-hot (zero at padding)."""
        out = {}
        if self.cond_features:
            out["cond_vec"] = self.composition(ids, mask)
        if self.slot_features:
            out["slot_vec"] = (F.one_hot(ids.clamp(max=self.num_elements - 1), self.num_elements)
                               * mask.unsqueeze(-1)).float()
        return out

    def composition(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The denoiser's composition condition: each element's atom count / 10, from element ids (B, N)
        (padding ignored).  -> (B, V)"""
        one_hot = F.one_hot(ids.clamp(max=self.num_elements - 1), self.num_elements) * mask.unsqueeze(-1)
        return self.composition_condition(one_hot.sum(1))

    def composition_condition(self, counts: torch.Tensor) -> torch.Tensor:
        """The same condition from element counts (B, V) in ``config.elements`` order.  -> (B, V)"""
        return counts.float() / 10.0

    def pair_geometry(self, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pair features of a geometry for the GE's attention: Gaussian basis of the distances (Angstrom,
        ``pair_features`` centres from 0.5 to 4.5 A), zero on the diagonal and at padded pairs.
        positions (B, N, 3) Angstrom -> (B, N, N, K). Invariant to rotations and translations."""
        k = self.pair_features
        with torch.autocast(device_type=positions.device.type, enabled=False):
            x = positions.float()
            d = (x[:, :, None] - x[:, None]).pow(2).sum(-1).add(1e-12).sqrt()       # (B, N, N)
            centres = torch.linspace(PAIR_MIN_A, PAIR_MAX_A, k, device=x.device)    # (K,)
            width = (PAIR_MAX_A - PAIR_MIN_A) / max(k - 1, 1)
            g = torch.exp(-0.5 * ((d[..., None] - centres) / width) ** 2)           # (B, N, N, K)
            return g * pair_mask(mask).unsqueeze(-1).to(g.dtype)

    def feedback(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pair features of the coordinates the decoder's coordinate head reads from hidden states ``h``
        (the trunk's, before any refiner: cheap enough for every sampling step).  -> (B, N, N, K)"""
        return self.pair_geometry(self.coord_head(h).float() * self.config.coord_scale * mask.unsqueeze(-1), mask)

    def slot_pos(self, mask: torch.Tensor) -> None:
        return None

    def decoder_pos(self, mask: torch.Tensor) -> None:
        return None

    def heads(self, h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Element logits (B, N, V) and coordinates (B, N, 3) in ``coord_scale`` units; with the refiner also
        ``coords_raw`` (before it) and, with the bond head, ``bond_logits`` (B, N, N, 5)."""
        out = {"logits": self.elem_head(h),                                      # (B, N, V)
               "coords": self.coord_head(h) * mask.unsqueeze(-1)}                # (B, N, 3) in coord_scale units
        if self.refiner is not None:
            s = self.config.coord_scale
            detach = self.config.refine_detach and self.training   # at inference gradients may reach the latents
            h_in, x_in = (h.detach(), out["coords"].detach()) if detach else (h, out["coords"])
            x, bond_logits = self.refiner(h_in, x_in.float() * s, mask)          # (B, N, 3) Angstrom
            out["coords_raw"], out["coords"] = out["coords"], x / s
            if bond_logits is not None:
                out["bond_logits"] = bond_logits                                 # (B, N, N, 5)
        return out

    def _geometry_loss(self, pred: torch.Tensor, target: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Coordinate MSE, all-pairs distance MSE (coord_scale units) and short-distance MSE ((0.1 A)^2 units)."""
        coord = ((pred - target).pow(2).sum(-1) * m).sum() / m.sum()
        pm = (m[:, :, None] * m[:, None, :])                                      # (B, N, N)
        dp = (pred[:, :, None] - pred[:, None]).pow(2).sum(-1).add(1e-8).sqrt()   # (B, N, N)
        dt = (target[:, :, None] - target[:, None]).pow(2).sum(-1).add(1e-8).sqrt()
        dist = ((dp - dt).pow(2) * pm).sum() / pm.sum()
        short = pair_mask(m.bool()).float() * (dt * self.config.coord_scale < 2.0).float()   # (B, N, N) i != j
        local = ((dp - dt).pow(2) * short).sum() / short.sum().clamp(min=1) * (self.config.coord_scale / 0.1) ** 2
        return coord, dist, local

    def reconstruction_loss(self, out: dict[str, torch.Tensor], batch: MolBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        mask = batch.mask
        m = mask.float()
        ids = self.element_tokens(batch.numbers, mask)
        ce = F.cross_entropy(out["logits"][mask].float(), ids[mask])
        target = batch.positions / cfg.coord_scale                                # (B, N, 3)
        pred = out["coords"].float()
        coord, dist, local = self._geometry_loss(pred, target, m)
        loss = ce + cfg.coord_weight * coord + cfg.dist_weight * dist + cfg.local_weight * local
        logs = {"ce": float(ce.detach()), "coord": float(coord.detach()), "dist": float(dist.detach()),
                "local": float(local.detach())}
        if "coords_raw" in out:   # the trunk's own coordinates stay supervised under the refiner
            raw_coord, raw_dist, _ = self._geometry_loss(out["coords_raw"].float(), target, m)
            loss = loss + cfg.coord_weight * raw_coord + cfg.dist_weight * raw_dist
            logs["coord_raw"] = float(raw_coord.detach())
        if "bond_logits" in out and batch.bonds is not None:
            bl = bond_loss(out["bond_logits"], batch.bonds, mask)
            loss = loss + cfg.bond_weight * bl
            logs["bond_ce"] = float(bl.detach())
        with torch.no_grad():
            logs["elem_acc"] = float((out["logits"].argmax(-1) == ids)[mask].float().mean())
            logs["coord_rmse_A"] = float(((pred - target).pow(2).sum(-1)[mask].mean()).sqrt() * cfg.coord_scale)
        return loss, logs

    def to_arrays(self, out: dict[str, torch.Tensor], mask: torch.Tensor,
                  ids: torch.Tensor | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decoder outputs -> per-molecule (atomic numbers, centred positions in Angstrom). The elements are
        the element head's, or element ids ``ids`` (B, N) when given (atoms the denoiser was told)."""
        ids = out["logits"].argmax(-1) if ids is None else ids                           # (B, N)
        z = self.token_to_z[ids.clamp(max=self.num_elements - 1)]                        # (B, N)
        x = out["coords"].float() * self.config.coord_scale                              # (B, N, 3)
        res = []
        for zb, xb, mb in zip(z.cpu(), x.detach().cpu().double(), mask.cpu()):
            xb = xb[mb].numpy()
            res.append((zb[mb].numpy().astype(np.int64), xb - xb.mean(0)))
        return res

    def valence_error(self, out: dict[str, torch.Tensor], ids: torch.Tensor, mask: torch.Tensor, *,
                      kekule: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """How far the bond head's graph is from giving every atom its neutral valence
        (:data:`NEUTRAL_VALENCE`: H 1, C 4, N 3, O 2, F 1, ...), per molecule.

        ``ids`` (B, N): each slot's element id. Returns ``(energy, valid)``, both (B,): ``energy`` is the sum
        over atoms of (expected valence - allowed valence)^2, expected orders from the bond head's
        probabilities (aromatic 1.5), differentiable; ``valid``: the head's most likely bonds give every atom
        exactly its valence. With ``kekule``, aromatic systems of the most likely bonds that have a kekulé
        structure (:func:`unite_mol.bonds.kekule_orders`) count in it: an atom of such a system is valid, and
        its energy's target is its valence with aromatic bonds 1.5 (furan's oxygen 3, pyrrole's N-H nitrogen 4),
        so the energy does not push a right aromatic ring apart; atoms of a system without one are not valid;
        without ``kekule``, aromatic bonds count 1.5 throughout.

        Raises:
            ValueError: without a bond head, or for an element with no single allowed valence.
        """
        if "bond_logits" not in out:
            raise ValueError("valence guidance needs a model with a bond head (train --bond-head)")
        logits, order, target, right = self._head_graph(out, ids, mask)
        if kekule:
            order_k, right = self._kekule_graph(order, target, mask)
            target = target + self._hard_valence(order, mask) - self._hard_valence(order_k, mask)
        pm = pair_mask(mask).float()                                                       # real pairs, i != j
        weights = torch.tensor(BOND_VALENCE, device=logits.device)
        expected = ((logits.softmax(-1) * weights).sum(-1) * pm).sum(-1)                  # (B, N)
        energy = ((expected - target) ** 2 * mask.float()).sum(-1)
        return energy, right.all(-1)

    @staticmethod
    def _hard_valence(order: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each slot's valence (B, N) from orders (B, N, N), aromatic bonds 1.5, real pairs only."""
        return (torch.tensor(BOND_VALENCE, device=order.device)[order] * pair_mask(mask)).sum(-1)

    def _head_graph(self, out: dict[str, torch.Tensor], ids: torch.Tensor, mask: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The bond head's symmetrised logits (B, N, N, 5) and most likely orders (B, N, N; 0 on padding
        pairs), each slot's allowed valence (B, N), and whether the most likely bonds give it exactly that
        valence, aromatic bonds 1.5 (B, N; padding counts as right)."""
        logits = out["bond_logits"].float()
        logits = 0.5 * (logits + logits.transpose(1, 2))
        order = logits.argmax(-1) * pair_mask(mask)
        target = self._valence_targets(ids, mask)
        return logits, order, target, ((self._hard_valence(order, mask) - target).abs() < 1e-3) | ~mask

    @classmethod
    def _kekule_graph(cls, order: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """``order`` (B, N, N; 0 on padding pairs) with each molecule's aromatic systems kekulized
        (:func:`unite_mol.bonds.kekule_orders`) and, per slot, whether those orders give it its ``target``
        valence (B, N; padding counts as right). Systems without a kekulé structure stay aromatic and their
        atoms count as wrong (cyclopentadienyl's five CH, right by 1.5 each, cannot all be)."""
        rows = (order == 4).any(-1).any(-1).nonzero().flatten().tolist()
        if rows:
            o, tgt = order.cpu().numpy().copy(), target.cpu().numpy()
            for b in rows:
                k = int(mask[b].sum())
                o[b, :k, :k] = kekule_orders(o[b, :k, :k], tgt[b, :k])
            order = torch.from_numpy(o).to(mask.device)
        right = ((cls._hard_valence(order, mask) - target).abs() < 1e-3) & ~(order == 4).any(-1)
        return order, right | ~mask

    def _valence_targets(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        table = torch.zeros(self.num_elements)
        for k, z in enumerate(self.config.elements):
            if elements.symbol(z) not in NEUTRAL_VALENCE:
                raise ValueError(f"valence guidance: element {elements.symbol(z)} has no neutral valence in "
                                 f"NEUTRAL_VALENCE (it knows {', '.join(NEUTRAL_VALENCE)})")
            table[k] = NEUTRAL_VALENCE[elements.symbol(z)]
        return table.to(mask.device)[ids.clamp(max=self.num_elements - 1)] * mask

    def to_bonds(self, out: dict[str, torch.Tensor], mask: torch.Tensor) -> list[np.ndarray] | None:
        """Predicted bond rows ``(i, j, order)`` per molecule from the bond head, or ``None`` without one."""
        if "bond_logits" not in out:
            return None
        return [np.array(bonds_from_logits(lg[mb][:, mb]), dtype=np.int64).reshape(-1, 3)
                for lg, mb in zip(out["bond_logits"].detach().float().cpu(), mask.cpu())]
