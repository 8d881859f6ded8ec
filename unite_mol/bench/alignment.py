"""``python -m unite_mol.bench alignment``: how alike the GE's tokenization and denoising passes are, layer by layer.

UNITE runs one network twice: a tokenization pass (data in, ``t = 0``, null condition -> clean latents
``z0``) and a denoising pass (``z_t`` at time ``t`` -> clean-latent estimate). This bench records every
block's output in both passes for the same real tokens and compares them with linear CKA and mutual
k-NN overlap (:mod:`unite_mol.core.similarity`), per layer pair and per ``t``.

Protocol, for a batch of real data (QM9 test molecules or Fashion-MNIST test images, drawn by ``--seed``):

1. tokenization pass ``z0 = GE(noise, t=0, data)``, noise drawn from ``seed``; each block's output is
   recorded through a forward hook on ``ge.blocks[i]`` (the model is not changed);
2. for each ``t`` in ``--times``: ``z_t = t z0 + (1 - t) eps`` (``t = 1`` clean; one ``eps`` per batch
   from ``seed``, shared by every ``t``), denoising pass ``model.denoise(z_t, t, mask, cond, **conditions)``
   with the model's own conditions (a molecule model's composition / element one-hot, an image model's
   class id) and no self-conditioning estimate (as a sampler's first step); each block's output recorded;
3. rows are tokens: a molecule's real atoms (padding dropped); an image's latent-register tokens (the
   denoising pass has no patch tokens, so those are not compared). ``CKA[i][j]`` compares tokenization
   block ``i`` with denoising block ``j``; ``knn`` the same layer of both, on at most ``--knn-items``
   tokens (a fixed random subset), ``k`` nearest neighbours by cosine similarity.

Both passes see a per-token label: a molecule denoiser is told each atom's element, and every image token
carries its register's position embedding. That alone makes token representations look alike, so each
measure is also reported *within groups* (``cka_within`` / ``knn_within``: features centred per element,
resp. per register position, before comparing), which asks whether the passes agree on what varies
inside a group; and, as a control, the plain CKA after shuffling the denoising side's tokens within their
groups (``cka_shuffled``: what the shared labels alone give); and, as a reference, the tokenization blocks
against the noisy latent ``z_t`` the denoiser is handed (``cka_input``: at ``t = 1`` that is ``z0``, a
readout of the tokenization pass, so some alignment is there before the denoiser's first block). For a model with a separate denoiser (the separate-weights ablation, the two-stage
baseline) the denoising pass runs that denoiser (for the VAE, ``z0`` is the posterior mean).

Writes ``results.json``, ``results.md`` (per model and ``t``: diagonal CKA per layer and mean, within-group
CKA and k-NN overlap) and one ``alignment-NAME.png`` per model (the layer x layer CKA at the ``t`` nearest
0.5, the tokenization pass against itself for reference, and the diagonal CKA against ``t``)::

    python -m unite_mol.bench alignment shipped=unite_mol/pretrained/unite-qm9 --n 512 --out benchmarks/alignment/qm9
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

TIMES = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
DOMAINS = ("molecules", "images")


# ------------------------------------------------------------------------------------------------ models
def model_domain(path: str | Path) -> str:
    """The domain named in a model file's sidecar.

    Raises:
        FileNotFoundError: if the sidecar is missing.
        ValueError: if it is not JSON or names no known domain.
    """
    from unite_mol.model_files import model_paths

    js = model_paths(path)[1]
    if not js.is_file():
        raise FileNotFoundError(f"model sidecar {js} not found (a model is NAME.pt + NAME.json)")
    try:
        domain = json.loads(js.read_text(encoding="utf-8")).get("domain", "molecules")
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{js}: not a unite_mol model sidecar ({exc})") from exc
    if domain not in DOMAINS:
        raise ValueError(f"{js}: unknown domain {domain!r}; this bench knows {', '.join(DOMAINS)}")
    return domain


def load_any_model(path: str | Path):
    """A saved model of either domain, on the CPU in eval mode, and its domain."""
    domain = model_domain(path)
    if domain == "images":
        from unite_mol.images.io import load_image_model

        return load_image_model(path, device="cpu"), domain
    from unite_mol.model_io import load_model

    return load_model(path, device="cpu"), domain


def model_kind(model) -> str:
    """``"shared"`` (UNITE), ``"separate"`` (separate-weights ablation) or ``"two-stage"`` (VAE baseline)."""
    return "two-stage" if model.vae else ("shared" if model.shared_weights else "separate")


# -------------------------------------------------------------------------------------------------- data
def molecule_batches(model, n: int, seed: int, batch_size: int) -> list[tuple[Any, torch.Tensor]]:
    """``n`` QM9 test molecules drawn by ``seed`` as (MolBatch, element-id groups (B, N)) pairs."""
    from unite_mol.bench.partial import test_molecules
    from unite_mol.data import collate

    mols = test_molecules(n, seed)
    out = []
    for s in range(0, len(mols), batch_size):
        batch = collate(mols[s: s + batch_size], max_atoms=model.adapter.config.max_atoms)
        out.append((batch, model.adapter.element_tokens(batch.numbers, batch.mask)))
    return out


def image_batches(model, n: int, seed: int, batch_size: int) -> list[tuple[Any, torch.Tensor]]:
    """``n`` Fashion-MNIST test images drawn by ``seed`` as (ImageBatch, register-position groups (B, N))."""
    from unite_mol.images.adapter import ImageBatch
    from unite_mol.images.data import fashion_mnist, to_tensor

    images, labels = fashion_mnist("test")
    rows = np.sort(np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False))
    x, y = to_tensor(images[rows]), torch.from_numpy(labels[rows])
    if tuple(x.shape[1:]) != (model.adapter.config.channels, model.adapter.config.image_size,
                              model.adapter.config.image_size):
        raise ValueError(f"Fashion-MNIST images {tuple(x.shape[1:])} do not fit this model's "
                         f"{model.adapter.config.channels} x {model.adapter.config.image_size}^2")
    nl = model.adapter.num_latents
    return [(ImageBatch(x[s: s + batch_size], y[s: s + batch_size]),
             torch.arange(nl).expand(len(x[s: s + batch_size]), nl)) for s in range(0, len(x), batch_size)]


# ----------------------------------------------------------------------------------------- activations
@contextlib.contextmanager
def record_blocks(ge: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Forward hooks on every ``ge.blocks[i]``: the list receives each block's output (B, T, W) in call order."""
    seen: list[torch.Tensor] = []
    handles = [blk.register_forward_hook(lambda _m, _i, out: seen.append(out.detach())) for blk in ge.blocks]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


@dataclass
class Activations:
    """Per-block hidden states of the same real tokens: ``tokenize[i]`` (n, W) and ``denoise[t][i]`` (n, W);
    ``groups`` (n,) each token's label (element id / register position); ``inputs[t]`` (n, d) the noisy
    latents the denoising pass read."""

    tokenize: list[torch.Tensor]
    denoise: dict[float, list[torch.Tensor]]
    groups: torch.Tensor
    per_batch_tokens: list[int] = field(default_factory=list)
    inputs: dict[float, torch.Tensor] = field(default_factory=dict)   # t -> the denoising pass's input z_t (n, d)


def _slots(blocks: Sequence[torch.Tensor], n: int, mask: torch.Tensor) -> list[torch.Tensor]:
    """Each block output's last ``n`` positions (the latent slots), real ones only.  -> [(tokens, W)]"""
    return [h[:, -n:][mask].float() for h in blocks]


@torch.no_grad()
def pass_activations(model, batches: Sequence[tuple[Any, torch.Tensor]], *, times: Sequence[float] = TIMES,
                     seed: int = 0) -> Activations:
    """Block outputs of the tokenization pass and of the denoising pass at every ``t``, see the module doc."""
    from unite_mol.core.flow import interpolate
    from unite_mol.core.unite import conditions

    depth = len(model.ge.blocks)
    tok: list[list[torch.Tensor]] = [[] for _ in range(depth)]
    den = {float(t): [[] for _ in range(depth)] for t in times}
    inp: dict[float, list[torch.Tensor]] = {t: [] for t in den}
    groups, sizes = [], []
    d = model.config.latent_dim
    for b, (batch, grp) in enumerate(batches):
        g = torch.Generator().manual_seed(seed * 1_000_003 + b)
        tokens = model.adapter.embed(batch)
        mask = tokens.mask                                                     # (B, N)
        m3 = mask.unsqueeze(-1).float()                                        # (B, N, 1)
        noise = torch.randn(*mask.shape, d, generator=g) * m3                  # (B, N, d)
        eps = torch.randn(*mask.shape, d, generator=g) * m3                    # (B, N, d)
        n = mask.shape[1]
        with record_blocks(model.ge) as seen:
            z0 = model.tokenize(tokens, noise).float() * m3                    # (B, N, d)
        assert len(seen) == depth, f"expected {depth} block outputs, got {len(seen)}"
        for i, h in enumerate(_slots(seen, n, mask)):
            tok[i].append(h)
        kw = conditions(tokens.cond_vec, tokens.slot_vec)
        for t in den:
            tt = torch.full((mask.shape[0],), t)                               # (B,)
            z_t = interpolate(z0, eps, tt) * m3                                # (B, N, d)
            with record_blocks(model.denoiser) as seen:
                model.denoise(z_t, tt, mask, tokens.cond, **kw)
            assert len(seen) == depth, f"expected {depth} block outputs, got {len(seen)}"
            for i, h in enumerate(_slots(seen, n, mask)):
                den[t][i].append(h)
            inp[t].append(z_t[mask])
        groups.append(grp[mask])
        sizes.append(int(mask.sum()))
    cat = lambda hs: [torch.cat(h) for h in hs]
    return Activations(cat(tok), {t: cat(v) for t, v in den.items()}, torch.cat(groups), sizes,
                       {t: torch.cat(v) for t, v in inp.items()})


# ---------------------------------------------------------------------------------------------- scores
def within_group_permutation(groups: torch.Tensor, seed: int) -> torch.Tensor:
    """A permutation of the items that moves each only among items of its own group (seeded).  (n,) -> (n,)"""
    g = torch.Generator().manual_seed(seed)
    perm = torch.arange(len(groups))
    for v in torch.unique(groups):
        idx = (groups == v).nonzero().squeeze(1)
        perm[idx] = idx[torch.randperm(len(idx), generator=g)]
    return perm


def alignment_scores(acts: Activations, *, k: int = 10, knn_items: int = 4096, seed: int = 0) -> dict[str, Any]:
    """Per ``t``: the layer x layer linear CKA (``cka[i][j]``: tokenization block i vs denoising block j), its
    diagonal, the within-group diagonal, the diagonal with the denoising side's tokens shuffled within groups
    (the CKA the shared labels alone give: a control), the tokenization blocks against the denoising pass's
    input ``z_t`` itself (``cka_input``: what the denoiser is handed before any block; the alignment a block
    adds beyond it is the difference), and the same-layer mutual k-NN overlap (plain and within-group)
    on at most ``knn_items`` tokens; and, once, the tokenization pass against itself (``cka_tokenize_self[i][j]``,
    how alike its own blocks are: the reference for how sharp a layer-to-layer correspondence can look)."""
    from unite_mol.core.similarity import cka_matrix, knn_chance, knn_indices, knn_overlap, linear_cka

    n = acts.groups.shape[0]
    sub = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(n, size=min(n, knn_items), replace=False)))
    gs = acts.groups[sub]
    if not 1 <= k < len(sub):
        raise ValueError(f"k must be in [1, {len(sub) - 1}] for {len(sub)} tokens, got {k}")
    perm = within_group_permutation(acts.groups, seed)
    tok_nn = [knn_indices(h[sub], k) for h in acts.tokenize]
    tok_nn_w = [knn_indices(h[sub], k, groups=gs) for h in acts.tokenize]
    per_t = {}
    for t, hs in acts.denoise.items():
        mat = cka_matrix(acts.tokenize, hs)
        per_t[f"{t:g}"] = {
            "cka": mat,
            "cka_diag": [mat[i][i] for i in range(len(hs))],
            "cka_within": [linear_cka(a, b, groups=acts.groups) for a, b in zip(acts.tokenize, hs)],
            "cka_shuffled": [linear_cka(a, b[perm]) for a, b in zip(acts.tokenize, hs)],
            "cka_input": ([linear_cka(a, acts.inputs[t]) for a in acts.tokenize] if t in acts.inputs else None),
            "knn": [knn_overlap(a, knn_indices(h[sub], k)) for a, h in zip(tok_nn, hs)],
            "knn_within": [knn_overlap(a, knn_indices(h[sub], k, groups=gs)) for a, h in zip(tok_nn_w, hs)],
        }
    return {"tokens": n, "knn_items": len(sub), "k": k, "knn_chance": knn_chance(len(sub), k),
            "cka_tokenize_self": cka_matrix(acts.tokenize, acts.tokenize), "times": per_t}


# ------------------------------------------------------------------------------------------------ output
def table(name: str, res: dict[str, Any]) -> str:
    """Markdown rows of one model: per ``t``, diagonal CKA per layer and mean, within-group mean, k-NN means."""
    depth = len(next(iter(res["times"].values()))["cka_diag"])
    mean = lambda v: sum(v) / len(v)
    lines = [f"**{name}** ({res['kind']}, {res['domain']}, {res['tokens']} tokens; k-NN: k = {res['k']} on "
             f"{res['knn_items']} tokens, chance {res['knn_chance']:.4f})", "",
             "| t | " + " | ".join(f"CKA L{i + 1}" for i in range(depth)) +
             " | CKA mean | input z_t CKA mean | shuffled-in-group CKA mean | within-group CKA mean | k-NN mean | "
             "within-group k-NN mean |", "|---" * (depth + 7) + "|"]
    for t, r in res["times"].items():
        lines.append(f"| {t} | " + " | ".join(f"{v:.3f}" for v in r["cka_diag"]) +
                     f" | {mean(r['cka_diag']):.3f} | {mean(r['cka_input'] or [float('nan')]):.3f} | {mean(r['cka_shuffled']):.3f} | {mean(r['cka_within']):.3f} | {mean(r['knn']):.3f} | "
                     f"{mean(r['knn_within']):.3f} |")
    return "\n".join(lines) + "\n"


def plot(name: str, res: dict[str, Any], path: Path) -> None:
    """Layer x layer CKA at the ``t`` nearest 0.5, the tokenization pass against itself, and the diagonal CKA
    (plain, within-group, and the shuffled control) against ``t``."""
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend switch

    times = list(res["times"])
    mid = min(times, key=lambda s: abs(float(s) - 0.5))
    mat = np.asarray(res["times"][mid]["cka"])
    depth = mat.shape[0]
    fig = Figure(figsize=(14, 4.2))
    for k, (m, xlabel, title) in enumerate(((mat, "denoising-pass block", f"tokenization vs denoising, t = {mid}"),
                                            (np.asarray(res["cka_tokenize_self"]), "tokenization-pass block",
                                             "reference: tokenization vs itself"))):
        ax = fig.add_subplot(1, 3, k + 1)
        im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis", origin="lower")
        for i in range(depth):
            for j in range(depth):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < 0.6 else "black")
        ax.set_xticks(range(depth), [str(j + 1) for j in range(depth)])
        ax.set_yticks(range(depth), [str(i + 1) for i in range(depth)])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("tokenization-pass block")
        ax.set_title(f"linear CKA: {title}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = fig.add_subplot(1, 3, 3)
    ts = [float(s) for s in times]
    for i in range(depth):
        c = f"C{i % 10}"
        ax.plot(ts, [res["times"][s]["cka_diag"][i] for s in times], "-o", color=c, ms=3, label=f"block {i + 1}")
        ax.plot(ts, [res["times"][s]["cka_within"][i] for s in times], "--", color=c, lw=1)
    ax.plot(ts, [sum(res["times"][s]["cka_shuffled"]) / depth for s in times], ":", color="grey",
            label="control: shuffled in group (mean)")
    if all(res["times"][s].get("cka_input") for s in times):
        ax.plot(ts, [sum(res["times"][s]["cka_input"]) / depth for s in times], "-.", color="black", lw=1,
                label="reference: the input z_t (mean)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("t (1 = clean)")
    ax.set_ylabel("CKA, same block (dashed: within-group)")
    ax.set_title("diagonal CKA against t")
    ax.legend(fontsize=7)
    fig.suptitle(f"{name}: tokenization vs denoising pass ({res['kind']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _floats(spec: str, flag: str) -> list[float]:
    try:
        vals = [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        vals = []
    if not vals or not all(0.0 <= v <= 1.0 for v in vals):
        raise ValueError(f"{flag} must be comma-separated numbers in [0, 1], got {spec!r}")
    return vals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench alignment", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("models", nargs="+", help="NAME=PATH (or PATH) of saved models, molecules or images")
    p.add_argument("--times", default=",".join(f"{t:g}" for t in TIMES), help="comma-separated noise times in [0, 1]")
    p.add_argument("--n", type=int, default=512, help="test molecules / images")
    p.add_argument("--batch-size", type=int, default=128, help="molecules / images per forward pass")
    p.add_argument("--k", type=int, default=10, help="neighbours of the mutual k-NN overlap")
    p.add_argument("--knn-items", type=int, default=4096, help="most tokens in the k-NN comparison (random subset)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data subset, the noise and the k-NN subset")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: leave as is)")
    p.add_argument("--out", default=None, help="write results.json, results.md and the heat maps here")
    args = p.parse_args(argv)

    from unite_mol.runtime import machine_info

    try:
        times = _floats(args.times, "--times")
        for flag, v in (("--n", args.n), ("--batch-size", args.batch_size), ("--k", args.k),
                        ("--knn-items", args.knn_items)):
            if v < 1:
                raise ValueError(f"{flag} must be >= 1, got {v}")
        if args.k >= args.knn_items:
            raise ValueError(f"--k ({args.k}) must be smaller than --knn-items ({args.knn_items})")
        specs = [m.split("=", 1) if "=" in m else (Path(m).name, m) for m in args.models]
        if len({name for name, _ in specs}) != len(specs):
            raise ValueError(f"model names must be distinct, got {[name for name, _ in specs]}")
        models = [(name, path, *load_any_model(path)) for name, path in specs]
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    res: dict[str, Any] = {"settings": {k: getattr(args, k) for k in ("n", "batch_size", "k", "knn_items", "seed")}
                           | {"times": times}, "models": {}}
    text = []
    for name, path, model, domain in models:
        t1 = time.time()
        make = molecule_batches if domain == "molecules" else image_batches
        try:
            batches = make(model, args.n, args.seed, args.batch_size)
            acts = pass_activations(model, batches, times=times, seed=args.seed)
            scores = alignment_scores(acts, k=args.k, knn_items=args.knn_items, seed=args.seed)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        entry = {"path": str(path), "domain": domain, "kind": model_kind(model),
                 "depth": len(model.ge.blocks), "width": model.config.width,
                 "tokens_compared": "latent-register tokens" if domain == "images" else "real atoms",
                 **scores, "wall_s": time.time() - t1}
        res["models"][name] = entry
        text.append(table(name, entry))
        print(text[-1], flush=True)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            plot(name, entry, Path(args.out) / f"alignment-{name}.png")
    machine = machine_info()
    machine["wall_s"] = time.time() - t0
    res["machine"] = machine
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(res, indent=2, default=float))
        (out / "results.md").write_text(f"Command: `{machine.get('command', '')}`; commit {machine.get('commit')}, "
                                        f"{machine.get('cpu')}, wall-clock {machine['wall_s']:.0f} s.\n\n"
                                        + "\n".join(text))
    print(f"{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
