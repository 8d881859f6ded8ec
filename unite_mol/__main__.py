"""``python -m unite_mol generate --n 1000 --out samples.sdf``: molecules from a model, to SDF, XYZ or CSV.

``generate`` checks every argument (output format included) before it loads the model, uses the same
defaults as :func:`unite_mol.generate` (so a seed gives the same molecules from both), shows a progress
bar on a terminal (``UNITE_MOL_NO_PROGRESS=1`` hides it) and makes large runs in chunks of
:data:`CHUNK` molecules, each written out as it is made, so memory does not grow with ``--n``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Iterator

#: molecules generated (and written) per chunk by the command line
CHUNK = 10_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unite_mol", description="unite_mol command line")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate molecules and write them to an SDF or XYZ file",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g.add_argument("--n", type=int, required=True, help="number of molecules")
    g.add_argument("--out", required=True,
                   help="output file: .sdf or .xyz (optionally .gz), or .csv for a table (SMILES, formula, "
                        "validity and reason, RDKit descriptors)")
    g.add_argument("--seed", type=int, default=0, help="sample i depends on (seed, i) only")
    g.add_argument("--model", default=None, help="model path (NAME or NAME.pt with NAME.json beside it); default: shipped QM9 model")
    g.add_argument("--steps", type=int, default=75, help="solver steps (generate()'s default)")
    g.add_argument("--method", default="stochastic", help="solver: stochastic (generate()'s default), heun or euler")
    g.add_argument("--temperature", type=float, default=1.0, help="scale of the starting noise")
    g.add_argument("--noise-level", type=float, default=None,
                   help="strength of the noise re-drawn along the way (--method stochastic; default: "
                        "generate()'s, 64; 0 = Euler)")
    g.add_argument("--guide", default="none",
                   help="autoguidance by a weaker model of the same latent space: none (default), auto (the "
                        "shipped guide for the shipped model), or a model path")
    g.add_argument("--guidance", type=float, default=None, help="guidance strength (default: 2 with a guide)")
    g.add_argument("--valence-steps", type=int, default=None,
                   help="valence guidance: up to this many latent steps per molecule toward bonds (the model's "
                        "own bond head) that give every atom its valence; 0 = off (default: generate()'s)")
    g.add_argument("--valence-from", type=float, default=0.9,
                   help="one valence step on each of the sampler's predictions at times t >= this (1 = only the "
                        "finished latent is guided; default: generate()'s)")
    g.add_argument("--restarts", type=int, default=0,
                   help="with valence guidance: times a molecule the bond head does not call done is noised back "
                        "to --restart-from and integrated again (default: generate()'s)")
    g.add_argument("--restart-from", type=float, default=0.9,
                   help="the time restarts go back to (t = 1 clean; default: generate()'s)")
    g.add_argument("--num-atoms", type=int, default=None, help="atoms per molecule (default: drawn from the training data)")
    g.add_argument("--formula", default=None,
                   help="every molecule's atoms, e.g. C7H10O2 (models whose denoiser is told the composition; "
                        "default: drawn from the training data)")
    g.add_argument("--bonds", default="auto", choices=["auto", "model", "openbabel", "rdkit", "edm", "none"],
                   help="bonds: the model's bond head (model), perceived from 3D, or auto (the head when the model has one)")
    g.add_argument("--batch-size", type=int, default=128, help="molecules integrated together (batches run side by side on a CPU)")
    g.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="denoiser precision; only fp32 makes molecules independent of --batch-size")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    e = sub.add_parser("export", help="copy a trained model (e.g. RUN_DIR/model) to a new place, optionally in float16",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("model", help="source model path (NAME or NAME.pt with NAME.json beside it)")
    e.add_argument("out", help="destination NAME (writes NAME.pt and NAME.json)")
    e.add_argument("--float16", action="store_true", help="store weights in half precision (half the size)")
    return p


def _generate(args: argparse.Namespace) -> int:
    from unite_mol import io
    from unite_mol.generation import (check_guidance, check_sampling_args, formula_composition, generate, load_model,
                                      progress_callback, resolve_guide, resolve_noise_level,
                                      resolve_valence_steps)
    from unite_mol.runtime import pick_device

    bonds = None if args.bonds == "none" else args.bonds
    args.noise_level = resolve_noise_level(args.method, args.noise_level)
    t0 = time.time()
    csv = args.out.lower().endswith(".csv")
    try:
        if not csv:
            io.detect_format(args.out)
        check_sampling_args(args.n, seed=args.seed, num_atoms=args.num_atoms, steps=args.steps,
                            method=args.method, batch_size=args.batch_size, time_shift=1.0,
                            precision=args.precision, min_n=1, temperature=args.temperature,
                            noise_level=args.noise_level, formula=args.formula,
                            valence_steps=args.valence_steps, valence_from=args.valence_from,
                            restarts=args.restarts,
                            restart_from=args.restart_from)
        guide_arg = None if args.guide == "none" else args.guide
        check_guidance(1.0, guide_arg, args.guidance, None)
        device = pick_device(args.device)
        model = load_model(args.model, device=device)
        if args.formula is not None:   # fits this model: checked before the output file is opened
            formula_composition(model, args.formula)
        guide, guidance, interval = resolve_guide(model, guide_arg, args.guidance, None, device)  # loaded once
        resolve_valence_steps(model, args.valence_steps)   # a model without a bond head: before the file opens
        if bonds == "model" and not model.adapter.config.bond_head:
            raise ValueError("--bonds model needs a model with a bond head; this one has none (use auto or a "
                             "perception method)")
        update, bar = progress_callback(True, args.n)
        written = 0

        def chunks() -> Iterator:
            nonlocal written
            for start in range(0, args.n, CHUNK):
                for m in generate(min(CHUNK, args.n - start), seed=args.seed, num_atoms=args.num_atoms,
                                  steps=args.steps, method=args.method, model=model, batch_size=args.batch_size,
                                  bonds=bonds, device=device, precision=args.precision, first_index=start,
                                  progress=update or False, temperature=args.temperature,
                                  noise_level=args.noise_level, guide=guide, guidance=guidance,
                                  guidance_interval=interval, formula=args.formula,
                                  valence_steps=args.valence_steps, valence_from=args.valence_from,
                                  restarts=args.restarts,
                            restart_from=args.restart_from):
                    written += 1
                    yield m

        try:
            if csv:
                _write_table(args.out, chunks())
            else:
                # molecules carry bonds unless --bonds none; then SDF output perceives them with EDM's tables
                io.write(args.out, chunks(), bond_method=args.bonds if args.bonds in ("openbabel", "rdkit") else "edm")
        finally:
            if bar is not None:
                bar.close()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} molecules to {args.out} in {time.time() - t0:.1f} s")
    return 0


def _write_table(path: str, molecules: Iterator) -> None:
    """:func:`unite_mol.molecule.table` rows as CSV, :data:`CHUNK` molecules at a time, written atomically."""
    from itertools import islice

    from unite_mol.files import atomic_open
    from unite_mol.molecule import table

    with atomic_open(path, "w") as fh:
        first = True
        while chunk := list(islice(molecules, CHUNK)):
            table(chunk).to_csv(fh, header=first, index=False)
            first = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    if args.command == "export":
        from unite_mol.generation import load_model, save_model

        try:
            model = load_model(args.model)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        keep = {k: v for k, v in model.meta.items() if k in ("training", "eval")}
        keep["exported_from"] = str(args.model)
        pt, js = save_model(args.out, model, extra=keep, storage_dtype="float16" if args.float16 else "float32")
        print(f"wrote {pt} ({pt.stat().st_size / 1e6:.1f} MB) and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
