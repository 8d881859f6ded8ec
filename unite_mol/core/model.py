"""The Generative Encoder (GE) and the decoder trunk: pure, domain-agnostic transformers.

The GE maps latent tokens ``z`` (B, N, d_z), a time ``t`` (B,) and a condition (B,) to a clean-latent
estimate (B, N, d_z) through a final LayerNorm with learnable affine. Data enters through one of two
doors, chosen by the domain adapter:

* ``data_add`` (B, N, width): a per-slot embedding added to the latent tokens (molecules: one latent per
  atom, so latent slot k *is* atom k and no positional encoding is needed; the GE stays equivariant to
  the order of the slots);
* ``data_prefix`` (B, L, width) with ``prefix_mask``: extra tokens placed before the latent slots
  (images: patch tokens followed by latent register tokens, as in the paper).

Optional inputs, all silent at initialisation (zero weights), so they can be added to a trained GE:

* ``z_sc`` (B, N, d_z), with ``GEConfig.self_cond``: the previous clean-latent estimate, added slot-wise
  like the noisy latent (self-conditioning, as in SemlaFlow / FlowMol);
* ``pair`` (B, N, N, K), with ``GEConfig.pair_features = K``: per-slot-pair features that every block
  turns into one attention bias per head (molecules: a distance basis, of the data's geometry in the
  tokenization pass and of the decoded estimate in the denoising pass);
* ``cond_vec`` (B, C), with ``GEConfig.cond_features = C``: a real-valued global condition of the
  denoising pass, joining the time embedding (molecules: the element counts);
* ``slot_vec`` (B, N, S), with ``GEConfig.slot_features = S``: a real-valued per-slot condition of the
  denoising pass, added slot-wise (molecules: each atom's element, one-hot).

The tokenization pass calls the GE with data, ``t = 0`` (full noise) and the null condition; the
denoising pass calls it on noisy latents without data. Which pass is which, and every loss, lives outside
this file (:mod:`unite_mol.core.unite`).

Blocks follow the UNITE paper: RMSNorm, QK-norm, SwiGLU, adaLN-zero conditioning on time and condition,
and an extra RMSNorm at the end of each block.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn


_RANGE = re.compile(r"^(?:([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])])|(>=|>)\s*(\S+))$")


def check_ranges(config, **ranges: str) -> None:
    """Check fields of a config against their allowed ranges, e.g. ``check_ranges(cfg, p="[0, 1)", k=">= 0")``.

    A range is an interval (``"[0, 1]"``, ``"(0, 1]"``, ...) or a lower bound (``">= 0"``, ``"> 0"``).

    Raises:
        ValueError: naming the first field outside its range, e.g. ``"UniteConfig.p must be in [0, 1), got 1.5"``.
    """
    for name, rule in ranges.items():
        m = _RANGE.match(rule)
        if m is None:
            raise ValueError(f"bad range {rule!r} for {name}")
        v = getattr(config, name)
        if m.group(5):
            lo = float(m.group(6))
            ok = v >= lo if m.group(5) == ">=" else v > lo
            what = f"be {rule}"
        else:
            lo, hi = float(m.group(2)), float(m.group(3))
            ok = (lo <= v if m.group(1) == "[" else lo < v) and (v <= hi if m.group(4) == "]" else v < hi)
            what = f"be in {rule}"
        if not ok:
            raise ValueError(f"{type(config).__name__}.{name} must {what}, got {v}")


def check_fields(cls, d: dict) -> dict:
    """``d`` if every key names a field of the dataclass ``cls``; else a ValueError naming the strays."""
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; known: {sorted(known)}")
    return dict(d)


@dataclass(frozen=True)
class GEConfig:
    """Size and shape of a Generative Encoder. Presets: :data:`PRESETS`."""

    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    latent_dim: int = 8
    num_conditions: int = 1      # condition ids 0..num_conditions-1; id num_conditions is the null condition
    decoder_width: int = 128
    decoder_depth: int = 2
    self_cond: bool = False      # the denoising pass also reads its previous clean-latent estimate
    pair_features: int = 0       # K > 0: per-pair features (B, N, N, K) from the adapter bias every block's attention
    cond_features: int = 0       # C > 0: a real-valued global condition (B, C) (e.g. a molecule's composition)
    #                              joins the time embedding in the denoising pass
    slot_features: int = 0       # S > 0: a real-valued per-slot condition (B, N, S) (e.g. each atom's element) is
    #                              added slot-wise to the denoising pass's input
    latent_affine: bool = True   # False: the final latent LayerNorm has no gain or bias, so every latent token has
    #                              mean 0 and variance 1 over its channels (a fixed latent scale; no channel can
    #                              be switched off by a vanishing gain)

    def __post_init__(self) -> None:
        for name in ("width", "depth", "heads", "latent_dim", "decoder_width", "decoder_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GEConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("pair_features", "cond_features", "slot_features"):
            if getattr(self, name) < 0:
                raise ValueError(f"GEConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"GEConfig.width ({self.width}) must be divisible by heads ({self.heads})")
        if (self.width // self.heads) % 2:
            raise ValueError(f"GEConfig head dimension width/heads = {self.width // self.heads} must be even")
        if self.decoder_width % self.heads:
            raise ValueError(f"GEConfig.decoder_width ({self.decoder_width}) must be divisible by heads ({self.heads})")
        if self.mlp_ratio <= 0:
            raise ValueError(f"GEConfig.mlp_ratio must be > 0, got {self.mlp_ratio}")
        if self.num_conditions < 0:
            raise ValueError(f"GEConfig.num_conditions must be >= 0, got {self.num_conditions}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GEConfig":
        return cls(**check_fields(cls, d))


#: Named size presets. "GE-S" is the paper's small model (about 33M parameters in the GE and decoder).
PRESETS: dict[str, GEConfig] = {
    "GE-T": GEConfig(width=64, depth=2, heads=4, latent_dim=8, decoder_width=64, decoder_depth=1),
    "GE-CPU": GEConfig(width=192, depth=6, heads=6, latent_dim=8, decoder_width=192, decoder_depth=3),
    "GE-S": GEConfig(width=384, depth=12, heads=6, latent_dim=16, decoder_width=384, decoder_depth=12),
    "GE-B": GEConfig(width=768, depth=12, heads=12, latent_dim=32, decoder_width=768, decoder_depth=12),
}


def preset(name: str, **overrides) -> GEConfig:
    """A named preset, optionally with fields overridden.

    Raises:
        ValueError: for an unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return GEConfig.from_dict({**PRESETS[name].to_dict(), **overrides})


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dtype)


class Attention(nn.Module):
    """Multi-head self-attention with QK-norm and an optional additive bias / key mask."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.q_norm = RMSNorm(width // heads)
        self.k_norm = RMSNorm(width // heads)
        self.proj = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """``bias`` (B, H, T, T): added to the attention scores (before the key mask)."""
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        q, k = self.q_norm(q), self.k_norm(k)                                                      # (B, H, T, Dh)
        if x.is_cuda:
            m = attn_mask if bias is None else bias.to(q.dtype).masked_fill(~attn_mask, float("-inf"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=m)                               # (B, H, T, Dh)
        else:  # for short sets, plain math attention is several times faster than SDPA's CPU kernels
            s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)                                  # (B, H, T, T)
            if bias is not None:
                s = s + bias.to(s.dtype)                                                           # (B, H, T, T)
            s = s.masked_fill(~attn_mask, float("-inf"))                                           # (B, H, T, T)
            y = s.softmax(dim=-1) @ v                                                              # (B, H, T, Dh)
        return self.proj(y.transpose(1, 2).reshape(b, n, w))                                       # (B, T, W)


class SwiGLU(nn.Module):
    def __init__(self, width: int, ratio: float):
        super().__init__()
        hidden = int(2 * ratio * width / 3)
        hidden = 8 * ((hidden + 7) // 8)
        self.gate_up = nn.Linear(width, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)   # (B, T, hidden) each
        return self.down(F.silu(gate) * up)           # (B, T, W)


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-zero modulation (shift, scale, gate for attention and MLP)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, conditioned: bool):
        super().__init__()
        self.norm1 = RMSNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = RMSNorm(width)
        self.mlp = SwiGLU(width, mlp_ratio)
        self.norm_out = RMSNorm(width)
        self.ada = nn.Linear(width, 6 * width) if conditioned else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None, attn_mask: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        if self.ada is not None:
            s1, sc1, g1, s2, sc2, g2 = self.ada(F.silu(c)).unsqueeze(1).chunk(6, dim=-1)   # 6 x (B, 1, W)
            x = x + g1 * self.attn(self.norm1(x) * (1 + sc1) + s1, attn_mask, bias)          # (B, T, W)
            x = x + g2 * self.mlp(self.norm2(x) * (1 + sc2) + s2)                            # (B, T, W)
        else:
            x = x + self.attn(self.norm1(x), attn_mask, bias)
            x = x + self.mlp(self.norm2(x))
        return self.norm_out(x)                                                              # (B, T, W)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (scaled by 1000).  (B,) -> (B, dim)"""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]                       # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)           # (B, dim)


def key_mask(mask: torch.Tensor) -> torch.Tensor:
    """Boolean attention mask letting every query see only real keys.  (B, T) -> (B, 1, 1, T)"""
    return mask[:, None, None, :]


class GenerativeEncoder(nn.Module):
    """The GE: one transformer that tokenizes (with data, t=0) and denoises (noisy latents, any t)."""

    def __init__(self, config: GEConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.latent_in = nn.Linear(config.latent_dim, w)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.cond_embed = nn.Embedding(config.num_conditions + 1, w)      # last id = null condition
        self.blocks = nn.ModuleList(Block(w, config.heads, config.mlp_ratio, True) for _ in range(config.depth))
        self.out_norm = RMSNorm(w)
        self.out = nn.Linear(w, config.latent_dim)
        self.latent_norm = nn.LayerNorm(config.latent_dim, elementwise_affine=config.latent_affine)
        # self-conditioning: the previous clean-latent estimate enters like the noisy latent (zero at start)
        self.sc_in = nn.Linear(config.latent_dim, w, bias=False) if config.self_cond else None
        # pair features -> one attention bias per head in every block (zero at start)
        self.pair_bias = (nn.ModuleList(nn.Linear(config.pair_features, config.heads) for _ in range(config.depth))
                          if config.pair_features > 0 else None)
        # a real-valued global condition joins the time embedding (zero at start)
        self.cond_in = nn.Linear(config.cond_features, w, bias=False) if config.cond_features > 0 else None
        # a real-valued per-slot condition joins each slot's input (zero at start)
        self.slot_in = nn.Linear(config.slot_features, w, bias=False) if config.slot_features > 0 else None
        self.reset_parameters()

    @property
    def null_condition(self) -> int:
        return self.config.num_conditions

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.cond_embed.weight, std=0.02)
        for blk in self.blocks:          # adaLN-zero: every block starts as the identity
            nn.init.zeros_(blk.ada.weight)
            nn.init.zeros_(blk.ada.bias)
        # new inputs start silent, so adding them to a trained GE changes nothing until they learn
        for m in [x for x in (self.sc_in, self.cond_in, self.slot_in) if x is not None] + list(self.pair_bias or []):
            nn.init.zeros_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, t: torch.Tensor, mask: torch.Tensor, *, cond: torch.Tensor | None = None,
                data_add: torch.Tensor | None = None, data_prefix: torch.Tensor | None = None,
                prefix_mask: torch.Tensor | None = None, pos: torch.Tensor | None = None,
                z_sc: torch.Tensor | None = None, pair: torch.Tensor | None = None,
                cond_vec: torch.Tensor | None = None, slot_vec: torch.Tensor | None = None,
                return_hidden: bool = False, detach_latent_affine: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Clean-latent estimate.

        Args:
            z: latent tokens (B, N, d_z): noise in the tokenization pass, z_t in the denoising pass.
            t: times (B,) in [0, 1]; 0 is pure noise.
            mask: (B, N) True for real latent slots.
            cond: (B,) condition ids; ``None`` means the null condition.
            data_add: (B, N, W) data embedding added slot-wise (molecules).
            data_prefix, prefix_mask: (B, L, W) and (B, L) data tokens placed before the slots (images).
            pos: (B or 1, N, W) positional embedding of the slots (images only).
            z_sc: (B, N, d_z) the previous clean-latent estimate (self-conditioning; needs ``config.self_cond``);
                ``None`` is the same as zeros.
            pair: (B, N, N, K) per-slot-pair features (``K = config.pair_features``), zero at padded pairs;
                each block turns them into an attention bias per head. ``None`` is the same as zeros.
            cond_vec: (B, C) a real-valued global condition (``C = config.cond_features``), added to the time
                embedding through a linear map; ``None`` is the same as zeros.
            slot_vec: (B, N, S) a real-valued per-slot condition (``S = config.slot_features``), added to each
                slot's input through a linear map; zero at padded slots. ``None`` is the same as zeros.
            return_hidden: also return the final hidden states of the slots (B, N, W), for extra heads
                such as the two-stage baseline's posterior variance.
            detach_latent_affine: the output LayerNorm's gain and bias without gradient (the same output): a
                denoising pass that must not shape the clean latent through them.
        Returns:
            (B, N, d_z) through the output LayerNorm; padded slots are zero.
        """
        b, n, _ = z.shape
        if cond is None:
            cond = torch.full((b,), self.null_condition, dtype=torch.long, device=z.device)
        c = self.time_mlp(timestep_embedding(t, self.config.width).to(z.dtype)) + self.cond_embed(cond)  # (B, W)
        if cond_vec is not None:
            if self.cond_in is None:
                raise ValueError("this GE takes no real-valued condition (GEConfig.cond_features is 0)")
            c = c + self.cond_in(cond_vec.to(c.dtype))                           # (B, W)
        h = self.latent_in(z)                                                    # (B, N, W)
        if z_sc is not None:
            if self.sc_in is None:
                raise ValueError("this GE has no self-conditioning input (GEConfig.self_cond is False)")
            h = h + self.sc_in(z_sc.to(h.dtype))                                 # (B, N, W)
        if slot_vec is not None:
            if self.slot_in is None:
                raise ValueError("this GE takes no per-slot condition (GEConfig.slot_features is 0)")
            h = h + self.slot_in(slot_vec.to(h.dtype))                           # (B, N, W)
        if pos is not None:
            h = h + pos                                                          # (B, N, W)
        if data_add is not None:
            h = h + data_add                                                     # (B, N, W)
        full_mask = mask
        if data_prefix is not None:
            pm = prefix_mask if prefix_mask is not None else torch.ones(data_prefix.shape[:2], dtype=torch.bool, device=z.device)
            h = torch.cat([data_prefix, h], dim=1)                               # (B, L+N, W)
            full_mask = torch.cat([pm, mask], dim=1)                             # (B, L+N)
        am = key_mask(full_mask)                                                 # (B, 1, 1, T)
        if pair is not None:
            if self.pair_bias is None:
                raise ValueError("this GE takes no pair features (GEConfig.pair_features is 0)")
            if data_prefix is not None:
                raise ValueError("pair features are for slot-only inputs (no data_prefix)")
        for i, blk in enumerate(self.blocks):
            bias = None if pair is None else self.pair_bias[i](pair.to(h.dtype)).permute(0, 3, 1, 2)  # (B, H, N, N)
            h = blk(h, c, am, bias)                                              # (B, T, W)
        h = self.out_norm(h[:, -n:])                                             # (B, N, W)
        ln = self.latent_norm
        if detach_latent_affine and ln.weight is not None:
            y = F.layer_norm(self.out(h), ln.normalized_shape, ln.weight.detach(), ln.bias.detach(), ln.eps)
        else:
            y = ln(self.out(h))
        out = y * mask.unsqueeze(-1)                                             # (B, N, d_z)
        return (out, h) if return_hidden else out


class DecoderTrunk(nn.Module):
    """The decoder: latent tokens (B, N, d_z) -> hidden states (B, N, W_dec); heads live in the adapter."""

    def __init__(self, config: GEConfig):
        super().__init__()
        w = config.decoder_width
        self.latent_in = nn.Linear(config.latent_dim, w)
        self.blocks = nn.ModuleList(Block(w, config.heads, config.mlp_ratio, False) for _ in range(config.decoder_depth))
        self.out_norm = RMSNorm(w)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, mask: torch.Tensor, *, pos: torch.Tensor | None = None) -> torch.Tensor:
        h = self.latent_in(z)                                   # (B, N, W)
        if pos is not None:
            h = h + pos
        am = key_mask(mask)                                     # (B, 1, 1, N)
        for blk in self.blocks:
            h = blk(h, None, am)                                # (B, N, W)
        return self.out_norm(h) * mask.unsqueeze(-1)            # (B, N, W)
