"""``python -m unite_mol.bench diagnose``: where does a molecule model lose its samples?

Six measurements, each a pure function of a model and molecules; the CLI composes them and writes
``results.json``, ``results.md``, PNG plots and ``machine.json`` into ``--out``:

1. **partial denoising**: QM9 test molecules are encoded, their latents noised to time ``t``
   (``z_t = t z0 + (1 - t) eps``, ``t = 1`` clean), integrated back to ``t = 1`` with the Heun sampler
   (``steps * (1 - t)`` steps, at least one; ``t = 1`` is decode only) and decoded: EDM stability,
   valid+connected and median Kabsch RMSD to the input per ``t``; also the single-step clean-latent
   prediction, as the fraction of noise it leaves, ``||x_pred - z0|| / ||z_t - z0||``.
2. **decoder sensitivity**: decode ``z0 + sigma * N(0, 1)``; the same scores per ``sigma``.
3. **latent statistics**: per-channel mean and std of ``z0``, channels with std < 0.01 flagged dead.
4. **bond lengths** of generated samples against the test molecules, per element pair, with EDM bonds;
   hydrogens with no heavy atom within 1.19 A; carbon valence under / right / over 4.
5. **fragments**: connected components (EDM bonds) per molecule, samples against data; and **failure
   classes** (:func:`failure_class`): each molecule stable, or unstable because of bond orders only,
   connectivity, or an impossible composition.
6. the EDM generation metrics of the samples (and of the data, for calibration).

Noise is drawn per molecule from ``(seed, index)`` and shared across every ``t`` and ``sigma``, so the
curves compare like with like; the encoder's slot noise is drawn per batch of ``BATCH`` molecules.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from unite_mol.bench.partial import (TIMES, Arrays, Encoded, decode_arrays, encode_molecules,  # noqa: F401
                                     integration_steps, partial_denoising, partial_relaxation, score_decoded)

SIGMAS = (0.0, 0.02, 0.05, 0.1, 0.2)
PAIRS = {"C-H": (6, 1), "C-C": (6, 6), "C-N": (6, 7), "C-O": (6, 8), "N-H": (7, 1), "O-H": (8, 1)}
BINS = np.linspace(0.8, 1.8, 101)   # bond-length histogram edges, Angstrom
H_REACH_A = 1.19                    # a hydrogen with no heavy atom this close is an orphan
DEAD_STD = 0.01


@torch.no_grad()
def decoder_sensitivity(model, encoded: Encoded, *, sigmas: Sequence[float] = SIGMAS) -> list[dict]:
    """One row per ``sigma``: scores of decoding ``z0 + sigma * N(0, 1)``."""
    return [{"sigma": float(s), **score_decoded(encoded.inputs, decode_arrays(
        model, encoded, [z0 + s * jitter for z0, _, _, jitter in encoded.chunks]))} for s in sigmas]


def latent_stats(z: np.ndarray, *, dead_std: float = DEAD_STD) -> dict[str, Any]:
    """Per-channel mean and std of latents ``z`` (tokens, d); channels with std below ``dead_std`` are dead."""
    z = np.asarray(z, dtype=np.float64)
    std = z.std(0)
    return {"tokens": int(z.shape[0]), "mean": z.mean(0).tolist(), "std": std.tolist(),
            "dead_channels": np.flatnonzero(std < dead_std).tolist(), "rms": float(np.sqrt((z ** 2).mean()))}


def structure_stats(molecules: Sequence[Arrays]) -> dict[str, Any]:
    """EDM-bond structure of molecules: bond lengths per element pair (arrays, A), orphan hydrogens,
    carbon valence under / right / over 4, connected components and failure class
    (:func:`failure_class`) per molecule. Molecules with non-finite coordinates are counted in
    ``skipped``, not measured."""
    from scipy.sparse.csgraph import connected_components

    from unite_mol.metrics import edm_stability
    from unite_mol.molecule import Molecule

    key = {tuple(sorted(p)): name for name, p in PAIRS.items()}
    lengths: dict[str, list[float]] = {name: [] for name in PAIRS}
    h_total = h_orphan = skipped = 0
    valence = np.zeros(3, dtype=np.int64)  # under, right, over
    fragments, classes = [], []
    for numbers, pos in molecules:
        numbers, pos = np.asarray(numbers, dtype=np.int64), np.asarray(pos, dtype=np.float64)
        if len(numbers) == 0 or not np.isfinite(pos).all():
            skipped += 1
            continue
        orders, stable = edm_stability(Molecule(numbers, pos))
        classes.append(failure_class(numbers, orders, stable))
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        for i, j in zip(*np.nonzero(np.triu(orders, 1))):
            name = key.get(tuple(sorted((int(numbers[i]), int(numbers[j])))))
            if name is not None:
                lengths[name].append(float(dist[i, j]))
        h, heavy = numbers == 1, numbers > 1
        h_total += int(h.sum())
        reach = dist[np.ix_(h, heavy)].min(1) if heavy.any() else np.full(int(h.sum()), np.inf)
        h_orphan += int((reach > H_REACH_A).sum())
        v = orders.sum(1)[numbers == 6]
        valence += [(v < 4).sum(), (v == 4).sum(), (v > 4).sum()]
        fragments.append(connected_components(orders > 0, directed=False)[0])
    c = max(int(valence.sum()), 1)
    return {"bond_lengths": {k: np.asarray(v) for k, v in lengths.items()},
            "h_orphan_fraction": h_orphan / h_total if h_total else None,
            "carbon_valence": dict(zip(("under", "right", "over"), (valence / c).tolist())),
            "fragments": np.asarray(fragments, dtype=np.int64), "classes": classes, "skipped": skipped}


def summarise_structure(stats: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready summary of :func:`structure_stats`: bond-length quantiles and histograms, fractions."""
    bonds = {}
    for name, x in stats["bond_lengths"].items():
        q = np.percentile(x, [25, 50, 75]) if len(x) else [None] * 3
        bonds[name] = {"n": int(len(x)), "q25": q[0], "median": q[1], "q75": q[2],
                       "iqr": None if not len(x) else float(q[2] - q[0]), "hist": np.histogram(x, BINS)[0].tolist()}
    f = stats["fragments"]
    frags = {str(k): float((f == k).mean()) if len(f) else None for k in (1, 2, 3)}
    frags["4+"] = float((f >= 4).mean()) if len(f) else None
    c = stats["classes"]
    classes = {k: c.count(k) / len(c) if c else None for k in FAILURE_CLASSES}
    return {"bonds": bonds, "h_orphan_fraction": stats["h_orphan_fraction"], "carbon_valence": stats["carbon_valence"],
            "fragments": frags, "failure_classes": classes, "skipped": stats["skipped"]}


FAILURE_CLASSES = ("stable", "orders only", "connectivity", "composition")


def _valence_sets(numbers: np.ndarray) -> list[tuple[int, ...]]:
    from unite_mol.metrics.edm_tables import allowed_valence_table

    table = allowed_valence_table()
    return [tuple(table.get(int(z), ())) for z in numbers]


def orders_fit(numbers: np.ndarray, adjacency: np.ndarray) -> bool:
    """Whether orders 1-3 on the bonded pairs of ``adjacency`` (N, N) bool can give every atom an allowed
    valence of EDM's table (an exhaustive search over the pairs between atoms that still lack valence)."""
    allowed = _valence_sets(numbers)
    degree = adjacency.sum(1)
    room = np.array([max(a, default=-1) for a in allowed]) - degree        # extra order an atom can still take
    if (room < 0).any():
        return False
    n = len(numbers)
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if adjacency[i, j] and room[i] > 0 and room[j] > 0]
    last = {a: k for k, e in enumerate(edges) for a in e}                   # an atom's last open pair
    if any(int(degree[a]) not in allowed[a] for a in range(n) if a not in last):
        return False
    extra = np.zeros(n, dtype=np.int64)

    def solve(k: int) -> bool:
        if k == len(edges):
            return True
        i, j = edges[k]
        for add in (0, 1, 2):
            if extra[i] + add > room[i] or extra[j] + add > room[j]:
                break
            extra[i] += add
            extra[j] += add
            closed_ok = all(last[a] != k or int(degree[a] + extra[a]) in allowed[a] for a in (i, j))
            if closed_ok and solve(k + 1):
                return True
            extra[i] -= add
            extra[j] -= add
        return False

    return solve(0)


def composition_feasible(numbers: np.ndarray) -> bool:
    """Whether the element counts alone allow a neutral, connected molecule with EDM's valences: an even
    valence sum (free when an atom has valences of both parities), every atom at least one bond, enough
    valence to connect the atoms (sum >= 2 (n - 1)) and no atom needing more bonds than the rest offer."""
    allowed = _valence_sets(numbers)
    if any(not a for a in allowed):
        return False
    low = [min(a) for a in allowed]
    high = [max(a) for a in allowed]
    n, total = len(low), sum(low)
    parity_free = any(len({v % 2 for v in a}) > 1 for a in allowed)
    if n == 1:
        return True
    return (parity_free or total % 2 == 0) and min(low) >= 1 and sum(high) >= 2 * (n - 1) and \
        max(low) <= sum(high) - max(low)


def failure_class(numbers: np.ndarray, orders: np.ndarray, stable: np.ndarray) -> str:
    """One of :data:`FAILURE_CLASSES` for a molecule with EDM bond ``orders`` (N, N) and per-atom ``stable``:
    ``"stable"``; ``"orders only"`` (the bonded pairs admit orders giving every atom its valence: only the
    lengths that tell single from double are off); ``"connectivity"`` (no orders fit the bonded pairs, but
    the composition allows a molecule); ``"composition"`` (the element counts allow none, e.g. an odd number
    of H + N + F atoms, whatever the coordinates)."""
    if stable.all():
        return "stable"
    if orders_fit(numbers, orders > 0):
        return "orders only"
    return "connectivity" if composition_feasible(numbers) else "composition"


# ---------------------------------------------------------------------------------------------- report
def plot_curves(rows: list[dict], x: str, path: Path, *, title: str) -> None:
    """Scores (left) and RMSD / noise left (right, log) against ``x``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    xs = [r[x] for r in rows]
    for k, label in (("mol_stability", "molecule stability"), ("atom_stability", "atom stability"),
                     ("valid_connected", "valid + connected"), ("elem_acc", "element accuracy")):
        left.plot(xs, [r[k] for r in rows], marker="o", label=label)
    right.plot(xs, [max(r["rmsd_median"], 1e-4) for r in rows], marker="o", label="median RMSD to input (A)")
    if "noise_left" in rows[0]:
        right.plot(xs, [r["noise_left"] if r["noise_left"] is not None else np.nan for r in rows], marker="s",
                   label="one-step noise left")
    if "xtb/relax_median_kcal" in rows[0]:   # the physics of the curve, on the same log axis
        right.plot(xs, [r["xtb/relax_median_kcal"] for r in rows], marker="^", label="xTB relaxation, median (kcal/mol)")
    right.set_yscale("log")
    for ax in (left, right):
        ax.set_xlabel(x)
        ax.legend(fontsize=8)
        if x == "t":
            ax.invert_xaxis()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_structure(samples: dict, data: dict, latents: dict, path: Path) -> None:
    """Bond-length histograms per pair, fragment counts, carbon valence and latent channels."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 8))
    axes = fig.subplots(2, 5).ravel()
    centres = 0.5 * (BINS[1:] + BINS[:-1])
    for ax, name in zip(axes, PAIRS):
        for label, s in (("data", data), ("samples", samples)):
            h = np.asarray(s["bonds"][name]["hist"], dtype=float)
            ax.step(centres, h / max(h.sum(), 1), where="mid", label=f"{label} (n={s['bonds'][name]['n']})")
        ax.set_title(f"{name} bond length (A)")
        ax.legend(fontsize=7)
    for ax, key, title in ((axes[6], "fragments", "fragments per molecule"), (axes[7], "carbon_valence", "carbon valence")):
        cats = list(data[key])
        for off, (label, s) in zip((-0.2, 0.2), (("data", data), ("samples", samples))):
            ax.bar(np.arange(len(cats)) + off, [s[key][c] or 0.0 for c in cats], width=0.4, label=label)
        ax.set_xticks(np.arange(len(cats)), cats)
        ax.set_title(title)
        ax.legend(fontsize=7)
    d = len(latents["std"])
    axes[8].errorbar(np.arange(d), latents["mean"], yerr=latents["std"], fmt="o")
    axes[8].set_title(f"latent mean +- std; dead {latents['dead_channels']}")
    axes[9].set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.1f}" if pct else f"{v:.3g}"


def markdown(res: dict[str, Any], machine: dict[str, Any]) -> str:
    cols = [("mol_stability", "mol stab %", True), ("atom_stability", "atom stab %", True),
            ("valid_connected", "valid+conn %", True), ("elem_acc", "elem acc %", True), ("rmsd_median", "median RMSD A", False)]
    head = " | ".join(c[1] for c in cols)
    md = [f"# Generation diagnostic: `{res['model']}`", "", f"Command: `{machine['command']}`  ",
          f"Machine: {machine['cpu']} ({machine['cores']} cores, {machine['torch_threads']} torch threads)  ",
          f"Commit: `{machine['commit']}`; {machine['date']}; wall-clock {machine['wall_s']:.0f} s  ",
          f"Settings: {res['settings']}", "", "## 1. Partial denoising (noise to t, Heun back to 1, decode)", "",
          f"| t | steps | {head} | one-step noise left | one-step RMS err | xTB n | xTB relax median kcal/mol "
          "| xTB mean |", "|" + "---|" * (len(cols) + 7)]
    for r in res["partial_denoising"]:
        md.append(f"| {r['t']} | {r['steps']} | " + " | ".join(_fmt(r[k], p) for k, _, p in cols)
                  + f" | {_fmt(r['noise_left'])} | {_fmt(r['pred_rms_err'])} | {_fmt(r.get('xtb/n'))} | "
                  f"{_fmt(r.get('xtb/relax_median_kcal'))} | {_fmt(r.get('xtb/relax_mean_kcal'))} |")
    md += ["", "![partial denoising](partial_denoising.png)", "", "## 2. Decoder sensitivity (decode z0 + sigma N(0,1))",
           "", f"| sigma | {head} |", "|" + "---|" * (len(cols) + 1)]
    for r in res["decoder_sensitivity"]:
        md.append(f"| {r['sigma']} | " + " | ".join(_fmt(r[k], p) for k, _, p in cols) + " |")
    lat = res["latents"]
    md += ["", "![decoder sensitivity](decoder_sensitivity.png)", "", "## 3. Latent channels", "",
           f"RMS {_fmt(lat['rms'])} over {lat['tokens']} tokens; dead channels (std < {DEAD_STD}): {lat['dead_channels'] or 'none'}", "",
           "| channel | " + " | ".join(str(i) for i in range(len(lat["std"]))) + " |", "|---" * (len(lat["std"]) + 1) + "|",
           "| mean | " + " | ".join(_fmt(v) for v in lat["mean"]) + " |", "| std | " + " | ".join(_fmt(v) for v in lat["std"]) + " |",
           "", "## 4-5. Structure (EDM bonds): samples vs data", "",
           "| bond | data median A | data IQR A | samples median A | samples IQR A | samples n |", "|---|---|---|---|---|---|"]
    s, d = res["structure"]["samples"], res["structure"]["data"]
    for name in PAIRS:
        a, b = d["bonds"][name], s["bonds"][name]
        md.append(f"| {name} | {_fmt(a['median'])} | {_fmt(a['iqr'])} | {_fmt(b['median'])} | {_fmt(b['iqr'])} | {b['n']} |")
    md += ["", "| | data | samples |", "|---|---|---|",
           f"| H with no heavy atom within {H_REACH_A} A % | {_fmt(d['h_orphan_fraction'], True)} | {_fmt(s['h_orphan_fraction'], True)} |"]
    for k in ("under", "right", "over"):
        md.append(f"| carbon valence {k} 4 % | {_fmt(d['carbon_valence'][k], True)} | {_fmt(s['carbon_valence'][k], True)} |")
    for k in d["fragments"]:
        md.append(f"| {k} fragment(s) % | {_fmt(d['fragments'][k], True)} | {_fmt(s['fragments'][k], True)} |")
    for k in FAILURE_CLASSES:
        md.append(f"| class: {k} % | {_fmt(d['failure_classes'][k], True)} | {_fmt(s['failure_classes'][k], True)} |")
    g = res["generation"]
    md += ["", "![structure](structure.png)", "", "## 6. Generation metrics (EDM protocol)", "",
           f"| metric (%) | data ({int(g['data']['n'])}) | samples ({int(g['samples']['n'])}) |", "|---|---|---|"]
    md += [f"| {k} | {_fmt(g['data'].get(k), True)} | {_fmt(v, True)} |" for k, v in g["samples"].items() if k != "n"]
    return "\n".join(md) + "\n"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer, np.floating)):
        obj = obj.item()
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


# long: one linear command: the flags, then each diagnostic in the order of its report
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench diagnose", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=None, help="saved model path (default: the shipped model)")
    p.add_argument("--n", type=int, default=None, help="QM9 test molecules to encode (default 500; --quick 6)")
    p.add_argument("--samples", type=int, default=None, help="generated molecules (default 1000; --quick 6)")
    p.add_argument("--steps", type=int, default=None, help="Heun steps for a full 0 -> 1 integration (default 25; --quick 4)")
    p.add_argument("--times", default=",".join(map(str, TIMES)), help="comma-separated noise times in [0, 1]")
    p.add_argument("--seed", type=int, default=0, help="seed for the test subset, noise and samples")
    p.add_argument("--out", default=None, help="results folder (default runs/diagnose/<model name>)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: leave as is)")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, ...")
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    p.add_argument("--xtb-n", type=int, default=100, help="valid+connected results per t relaxed with GFN2-xTB "
                   "(0: none)")
    args = p.parse_args(argv)

    from unite_mol.bench.qm9 import REPO
    from unite_mol.data import qm9
    from unite_mol.generation import DEFAULT_MODEL, generate_arrays, load_model
    from unite_mol.runtime import machine_info, pick_device
    from unite_mol.metrics import evaluate

    small = 6 if args.quick else None
    n, n_samples, steps = args.n or small or 500, args.samples or small or 1000, args.steps or (4 if args.quick else 25)
    try:
        times = [float(x) for x in args.times.split(",") if x.strip()]
        if not times or not all(0.0 <= t <= 1.0 for t in times):
            raise ValueError(f"--times must be comma-separated numbers in [0, 1], got {args.times!r}")
        for flag, v in (("--n", n), ("--samples", n_samples), ("--steps", steps), ("--threads", args.threads or 1)):
            if v < 1:
                raise ValueError(f"{flag} must be >= 1, got {v}")
        model = load_model(args.model, device=pick_device(args.device))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    name = Path(args.model).with_suffix("").name if args.model else DEFAULT_MODEL.name
    out = Path(args.out) if args.out else REPO / "runs" / "diagnose" / name
    out.mkdir(parents=True, exist_ok=True)
    t_begin = last = time.time()

    def done(what: str) -> None:
        nonlocal last
        now = time.time()
        print(f"[diagnose] {what} ({now - last:.1f} s; {now - t_begin:.1f} s in all)", flush=True)
        last = now

    test = qm9("test")
    rows = np.sort(np.random.default_rng(args.seed).choice(len(test), size=min(n, len(test)), replace=False))
    rows = rows[np.argsort(test.num_atoms[rows], kind="stable")]  # similar sizes together: less padding
    encoded = encode_molecules(model, [test[int(r)] for r in rows], seed=args.seed)
    done(f"encoded {len(rows)} test molecules -> {out}")
    res: dict[str, Any] = {"model": name, "settings": {"n": len(rows), "samples": n_samples, "steps": steps,
                                                       "times": times, "sigmas": list(SIGMAS), "seed": args.seed}}
    if args.xtb_n > 0:   # each t's results also relaxed with GFN2-xTB: the physics of the curve
        res["partial_denoising"] = partial_relaxation(model, encoded, times=times, steps=steps, xtb_n=args.xtb_n)
    else:
        res["partial_denoising"] = partial_denoising(model, encoded, times=times, steps=steps)
    done(f"1/6 partial denoising at {len(times)} times" + (f" (xTB on up to {args.xtb_n} each)" if args.xtb_n else ""))
    res["decoder_sensitivity"] = decoder_sensitivity(model, encoded)
    done(f"2/6 decoder sensitivity at {len(SIGMAS)} noise levels")
    res["latents"] = latent_stats(encoded.latents())
    done("3/6 latent channel statistics")
    samples = generate_arrays(model, n_samples, seed=args.seed, sampler={"steps": steps})
    done(f"generated {n_samples} samples ({steps} Heun steps)")
    res["structure"] = {"samples": summarise_structure(structure_stats(samples)),
                        "data": summarise_structure(structure_stats(encoded.inputs))}
    res["bond_bins_A"] = BINS.tolist()
    done("4-5/6 bond lengths, valence, fragments")
    res["generation"] = {"samples": evaluate(samples, protocols=("edm",)).metrics,
                         "data": evaluate(encoded.inputs, protocols=("edm",)).metrics}
    done("6/6 generation metrics")

    plot_curves(res["partial_denoising"], "t", out / "partial_denoising.png", title="noise to t, integrate back, decode")
    plot_curves(res["decoder_sensitivity"], "sigma", out / "decoder_sensitivity.png", title="decode z0 + sigma N(0, 1)")
    plot_structure(res["structure"]["samples"], res["structure"]["data"], res["latents"], out / "structure.png")
    machine = machine_info()
    machine["wall_s"] = time.time() - t_begin
    (out / "machine.json").write_text(json.dumps(machine, indent=2))
    (out / "results.json").write_text(json.dumps(_jsonable(res), indent=2, allow_nan=False))
    (out / "results.md").write_text(markdown(_jsonable(res), machine))
    done("wrote results.json, results.md, plots, machine.json")
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
