"""``python -m unite_mol.bench levers NAME=MODEL ...``: trained molecule models side by side, same protocol.

For every model: ``generate()`` at its defaults (seed, its default sampler, bonds from the model's bond head when
it has one), scored with the EDM protocol (bonds from distances) and Open Babel's perception, plus the
predicted-bond protocol (``bonds/...``, aromatic-aware valences) for models with a bond head — each
protocol in its own columns, never mixed; reconstruction of QM9 test molecules; and what the model file
says about its training (steps, seconds, objective). With ``--relax``, the same samples after MMFF94
relaxation on their bonds are scored as a row of their own (``NAME + MMFF``), never inside the raw row. Writes ``results.json``, ``results.md``,
``results.csv``, ``machine.json`` and ``generation.png`` (rates per model in the order given: a learning
curve when the models are a run's snapshots) into ``--out``.

Used for the lever study of ``benchmarks/qm9/levers/`` and for learning curves over a run's snapshots::

    python -m unite_mol.bench levers A=runs/levers/A/model C=runs/levers/C/model --out benchmarks/qm9/levers

A model may carry its own sampler settings after ``@`` (``steps``, ``method``, ``temperature``,
``noise_level``, ``time_shift``, ``estimate_guidance``, ``estimate_from``, ``guide``, ``guidance``, ``guidance_from``,
``guidance_to``, ``valence_steps``, ``valence_from``, ``restarts``, ``restart_from``; the rest stay at ``generate()``'s defaults, except the guide: none unless the spec says
``guide=auto`` or a path), so one model under several samplers is one table::

    python -m unite_mol.bench levers ode=M "sde=M@method=stochastic,noise_level=0.5,steps=50" --recon 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from unite_mol.bench.qm9 import PHYSICS_PB_N, PHYSICS_REF_N
from unite_mol.bench.qm9_eval import physics_eval, reconstruction_eval, test_molecules
from unite_mol.data.qm9 import training_smiles
from unite_mol.metrics.physics import geometry_values
from unite_mol.runtime import machine_info
from unite_mol.files import atomic_open

def sampler_keys() -> dict[str, type]:
    """``@key=value`` keys: :class:`~unite_mol.sampling.SamplerConfig`'s scalar fields (read from the class,
    the one list of them) plus ``guidance_from`` / ``guidance_to`` for its ``guidance_interval``."""
    from dataclasses import fields

    from unite_mol.sampling import SamplerConfig

    keys = {f.name: int if str(f.type).startswith("int") else float if str(f.type).startswith("float") else str
            for f in fields(SamplerConfig) if f.name != "guidance_interval"}
    return {**keys, "guidance_from": float, "guidance_to": float}


COLUMNS = (
    ("sampler", "sampler", False), ("train_steps", "steps", False), ("train_s", "train s", False),
    ("gen/edm/atom_stability", "atom stab (EDM)", True), ("gen/edm/mol_stability", "mol stab (EDM)", True),
    ("gen/edm/validity", "valid (EDM)", True), ("gen/edm/connected", "valid+conn (EDM)", True),
    ("gen/edm/uniqueness", "unique (EDM, of valid)", True), ("gen/edm/novelty", "novel (EDM)", True),
    ("gen/openbabel/connected", "valid+conn (OB)", True),
    ("gen/bonds/atom_stability", "atom stab (pred. bonds)", True),
    ("gen/bonds/mol_stability", "mol stab (pred. bonds)", True),
    ("gen/bonds/connected", "valid+conn (pred. bonds)", True),
    ("recon/match_adit", "recon match (ADiT)", True), ("recon/rmsd", "recon RMSD A", False),
    ("phys/xtb/relax_median_kcal", "xTB relax median kcal/mol", False),
    ("phys/xtb/relax_mean_kcal", "xTB relax mean", False), ("phys/xtb/n", "xTB n", False),
    ("phys/posebusters/own", "PoseBusters (own bonds)", True), ("phys/usable/own", "usable (own bonds)", True),
    ("phys/w1/bond/C-C", "W1 C-C mA", False), ("phys/w1/angle/C-C-C", "W1 C-C-C deg", False),
    ("generate_s", "generate s", False),
)


def parse_spec(item: str) -> tuple[str, str, dict[str, Any]]:
    """``NAME=PATH[@key=value,...]`` -> (name, path, sampler settings); a part ``config=FILE.json`` reads an
    arm's :class:`~unite_mol.sampling.SamplerConfig` file (later keys override it).

    Raises:
        ValueError: naming what is malformed (a missing part, an unknown key, a value of the wrong type).
    """
    name, sep, rest = item.partition("=")
    path, _, opts = rest.partition("@")
    if not sep or not name or not path:
        raise ValueError(f"expected NAME=MODEL_PATH[@key=value,...], got {item!r}")
    sampler: dict[str, Any] = {}
    keys = sampler_keys()
    for part in filter(None, opts.split(",")):
        key, eq, value = part.partition("=")
        if eq and key == "config":
            from unite_mol.sampling import SamplerConfig

            sampler.update({k: v for k, v in SamplerConfig.from_file(value).to_dict().items()
                            if v != getattr(SamplerConfig(), k)})
            continue
        if not eq or key not in keys:
            raise ValueError(f"{item!r}: sampler settings are key=value with keys config, {', '.join(keys)}; got "
                             f"{part!r}")
        try:
            sampler[key] = keys[key](value)
        except ValueError:
            raise ValueError(f"{item!r}: {key} must be {keys[key].__name__}, got {value!r}") from None
    return name, path, sampler


def score_model(name: str, path: str, *, samples: int, recon: int, seed: int, reference: set[str],
                relax: bool = False, sampler: dict[str, Any] | None = None, physics: Any = None,
                xtb_n: int = 100, pb_n: int | None = None) -> list[dict[str, Any]]:
    """One row: generation (all protocols that apply), reconstruction and the model's training record; with
    ``relax`` a second row, ``NAME + MMFF``: the same samples after MMFF94 relaxation on their bonds.
    ``sampler``: :class:`~unite_mol.sampling.SamplerConfig` fields (and ``guidance_from`` / ``guidance_to``).
    ``physics``: the reference geometry (:func:`unite_mol.metrics.physics.geometry_values` of test molecules)
    to add the physical yardstick (``phys/...``, :func:`unite_mol.bench.qm9_eval.physics_eval`); None: skip."""
    import hashlib

    from unite_mol.generation import generate, load_model
    from unite_mol.metrics import evaluate

    model = load_model(path)
    has_head = model.adapter.config.bond_head
    t0 = time.time()
    sampler = dict(sampler or {})
    kwargs = {k: v for k, v in sampler.items() if k not in ("guidance_from", "guidance_to")}
    # a harness of explicit sampler settings: no guide unless the spec names one ("auto": generate()'s)
    kwargs["guide"] = None if kwargs.get("guide", "none") == "none" else kwargs["guide"]
    if "guidance_from" in sampler or "guidance_to" in sampler:
        kwargs["guidance_interval"] = (sampler.get("guidance_from", 0.0), sampler.get("guidance_to", 1.0))
    mols = generate(samples, seed=seed, model=model, bonds="auto", progress=False, sampler=kwargs)
    gen_s = time.time() - t0
    protocols = ("edm", "openbabel") + (("bonds",) if has_head else ())
    res = evaluate(mols, reference=reference, protocols=protocols)
    pt = Path(path) if str(path).endswith(".pt") else Path(f"{path}.pt")
    row: dict[str, Any] = {"name": name, "model": str(path), "weights_sha256": hashlib.sha256(pt.read_bytes()).hexdigest(),
                           "generate_s": round(gen_s, 1), "samples": samples,
                           "sampler": ",".join(f"{k}={v}" for k, v in sampler.items()) or "default",
                           "bond_head": has_head, "refine_layers": model.adapter.config.refine_layers}
    row.update({f"gen/{k}": v for k, v in res.metrics.items()})
    if physics is not None:
        row.update(physics_eval(mols, physics, xtb_n=xtb_n, pb_n=pb_n))
    if recon > 0:
        row.update(reconstruction_eval(model, recon, seed=seed))
    training = model.meta.get("training", {})
    row.update(train_steps=training.get("step"), train_s=round(float(training.get("elapsed_s") or 0.0)),
               objective=training.get("objective"), init_from=training.get("init_from"))
    if not relax:
        return [row]
    from unite_mol.relax import relax as relax_molecules

    t0 = time.time()
    relaxed = relax_molecules(mols)
    done = sum(bool(m.properties.get("relaxed")) for m in relaxed)
    res = evaluate(relaxed, reference=reference, protocols=protocols)
    extra = {"name": f"{name} + MMFF", "model": str(path), "samples": samples, "relaxed": done,
             "relax_s": round(time.time() - t0, 1), **{f"gen/{k}": v for k, v in res.metrics.items()}}
    return [row, extra]


def _fmt(v: Any, pct: bool) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if pct:
        return f"{100 * v:.1f}"
    return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else str(v)


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    lines = [f"Command: `{machine['command']}`  ", f"Commit `{machine['commit']}`, {machine['cpu']}, "
             f"{machine['torch_threads']} torch threads, {machine['date']}. Rates in %.", "",
             "| model | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['name']} | " + " | ".join(_fmt(r.get(k), pct) for k, _, pct in cols) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Generation rates per model, in the order given (a learning curve when the models are snapshots)."""
    from matplotlib.figure import Figure

    keys = [(k, label) for k, label, pct in COLUMNS if pct and k.startswith("gen/") and any(k in r for r in rows)]
    fig = Figure(figsize=(max(6.0, 0.9 * len(rows) + 3), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(rows)))
    for k, label in keys:
        ax.plot(x, [100 * r[k] if r.get(k) is not None else float("nan") for r in rows], marker="o", label=label)
    ax.set_xticks(x, [r["name"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")


def write(out: Path, rows: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "results.json", "w") as fh:
        fh.write(json.dumps(rows, indent=2, default=str))
    with atomic_open(out / "results.md", "w") as fh:
        fh.write(markdown(rows, machine))
    with atomic_open(out / "results.csv", "w") as fh:
        pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, dict)} for r in rows]).to_csv(fh, index=False)
    with atomic_open(out / "machine.json", "w") as fh:
        fh.write(json.dumps(machine, indent=2))
    with atomic_open(out / "generation.png") as fh:
        plot(rows, fh)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench levers", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("models", nargs="+", help="NAME=MODEL_PATH[@key=value,...] (MODEL_PATH: NAME or NAME.pt with its "
                   ".json; keys: config=ARM.json and the SamplerConfig fields, guidance_from, guidance_to)")
    p.add_argument("--samples", type=int, default=1000, help="generated molecules per model")
    p.add_argument("--recon", type=int, default=500, help="QM9 test molecules for reconstruction (0: skip)")
    p.add_argument("--seed", type=int, default=0, help="generation seed")
    p.add_argument("--relax", action="store_true",
                   help="also score each model's samples after MMFF94 relaxation, as a separate row (NAME + MMFF)")
    p.add_argument("--no-physics", action="store_true", help="skip the physical yardstick (xTB, PoseBusters, W1)")
    p.add_argument("--xtb-n", type=int, default=100, help="valid+connected samples relaxed with GFN2-xTB per model")
    p.add_argument("--pb-n", type=int, default=PHYSICS_PB_N, help="samples checked by PoseBusters per model (0: all)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default="runs/levers-eval", help="results folder")
    args = p.parse_args(argv)
    try:
        specs = [parse_spec(item) for item in args.models]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.samples < 1 or args.recon < 0:
        print("error: --samples must be >= 1 and --recon >= 0", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info()
    reference = training_smiles()
    physics = None if args.no_physics else geometry_values(test_molecules(PHYSICS_REF_N))
    rows = []
    out = Path(args.out)
    for name, path, sampler in specs:
        t0 = time.time()
        try:
            rows += score_model(name, path, samples=args.samples, recon=args.recon, seed=args.seed,
                                reference=reference, relax=args.relax, sampler=sampler, physics=physics,
                                xtb_n=args.xtb_n, pb_n=args.pb_n or None)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: scored in {time.time() - t0:.0f} s", file=sys.stderr)
        write(out, rows, machine)        # partial results after every model
    print(markdown(rows, machine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
