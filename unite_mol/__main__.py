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
    g = sub.add_parser("generate", help="generate molecules and write them to an SDF or XYZ file")
    g.add_argument("--n", type=int, required=True, help="number of molecules")
    g.add_argument("--out", required=True,
                   help="output file: .sdf or .xyz (optionally .gz), or .csv for a table (SMILES, formula, "
                        "validity and reason, RDKit descriptors)")
    add_generate_flags(g)
    e = sub.add_parser("export", help="copy a trained model (e.g. RUN_DIR/model) to a new place, optionally in float16",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("model", help="source model path (NAME or NAME.pt with NAME.json beside it)")
    e.add_argument("out", help="destination NAME (writes NAME.pt and NAME.json)")
    e.add_argument("--float16", action="store_true", help="store weights in half precision (half the size)")
    return p


def add_generate_flags(g: argparse.ArgumentParser) -> None:
    """The flags of :func:`unite_mol.generate`'s request (:data:`unite_mol.generation.REQUEST_HELP`) and of every
    :class:`~unite_mol.sampling.SamplerConfig` field (:data:`unite_mol.sampling.config.HELP`), with their defaults:
    the API and the command line share one list. Sampler flags left unset keep ``--sampler``'s file or the
    config's defaults."""
    from dataclasses import fields

    from unite_mol.core.samplers import METHODS
    from unite_mol.core.unite import ESTIMATE_FROM
    from unite_mol.generation import BOND_CHOICES, REQUEST_HELP
    from unite_mol.runtime import PRECISIONS
    from unite_mol.sampling.config import HELP, SamplerConfig

    g.add_argument("--model", default=None,
                   help="model path (NAME or NAME.pt with NAME.json beside it; default: the shipped QM9 model)")
    g.add_argument("--seed", type=int, default=0, help=REQUEST_HELP["seed"] + " (default: 0)")
    g.add_argument("--num-atoms", type=int, default=None, help=REQUEST_HELP["num_atoms"])
    g.add_argument("--formula", default=None, help=REQUEST_HELP["formula"])
    g.add_argument("--num-heavy-atoms", type=int, default=None, help=REQUEST_HELP["num_heavy_atoms"])
    g.add_argument("--bonds", default="auto", choices=[*BOND_CHOICES, "none"],
                   help=REQUEST_HELP["bonds"] + " (default: auto)")
    g.add_argument("--valid-only", action="store_true", help=REQUEST_HELP["valid_only"])
    g.add_argument("--relax", action="store_true", help=REQUEST_HELP["relax"])
    g.add_argument("--max-draws", type=int, default=None, help=REQUEST_HELP["max_draws"])
    g.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps (default: auto)")
    g.add_argument("--sampler", default=None, metavar="JSON",
                   help="a JSON file of sampler settings (an experiment's arm); the flags below override it")
    choices = {"method": METHODS, "estimate_from": ESTIMATE_FROM, "precision": PRECISIONS}
    defaults = SamplerConfig()
    for f in fields(SamplerConfig):
        flag, kind = "--" + f.name.replace("_", "-"), str(f.type)
        default = getattr(defaults, f.name)
        shown = "model's" if f.name in ("valence_steps",) else "none" if default is None else \
            " ".join(map(str, default)) if isinstance(default, tuple) else default
        help_ = f"{HELP[f.name]} (default: {shown})"
        if f.name == "guidance_interval":
            g.add_argument(flag, type=float, nargs=2, metavar=("LO", "HI"), default=None, help=help_)
        elif f.name == "noise_level":
            g.add_argument(flag, type=float, default=None, help=HELP[f.name] + ")")
        else:
            typ = int if kind.startswith("int") else float if kind.startswith("float") else str
            g.add_argument(flag, type=typ, default=None, choices=choices.get(f.name), help=help_)


def sampler_config(args: argparse.Namespace):
    """The :class:`~unite_mol.sampling.SamplerConfig` of the command line: ``--sampler``'s file (or the defaults)
    with every sampler flag given on top.

    Raises:
        ValueError: a bad file or setting.
    """
    from unite_mol.sampling import SamplerConfig

    base = SamplerConfig.coerce(args.sampler)
    given = {name: getattr(args, name) for name in SamplerConfig.field_names() if getattr(args, name) is not None}
    if given.get("guide") == "none":
        given["guide"] = None
    if "method" in given and "noise_level" not in given:
        given["noise_level"] = None           # the new method's default, not the file's
    return base.replace(**given) if given else base


def check_out(path: str) -> None:
    """The output file's folder exists and its format is one the command line writes.

    Raises:
        ValueError: naming what to do.
    """
    from pathlib import Path

    from unite_mol import io

    if not Path(path).resolve().parent.is_dir():
        raise ValueError(f"--out {path}: the folder {Path(path).parent} does not exist; create it first")
    if path.lower().endswith(".csv"):
        return
    try:
        fmt, _ = io.detect_format(path)
    except ValueError:
        fmt = None
    if fmt not in ("sdf", "xyz"):
        raise ValueError(f"--out {path}: write .sdf or .xyz (optionally .gz), or .csv for a table")


def _generate(args: argparse.Namespace) -> int:
    from unite_mol import io
    from unite_mol.generation import check_request, make_molecules, prepare
    from unite_mol.runtime import progress_callback

    bonds = None if args.bonds == "none" else args.bonds
    t0 = time.time()
    try:
        check_out(args.out)
        check_request(args.n, seed=args.seed, num_atoms=args.num_atoms, formula=args.formula,
                      num_heavy_atoms=args.num_heavy_atoms, bonds=bonds, valid_only=args.valid_only,
                      relax=args.relax, max_draws=args.max_draws)
        if args.n < 1:
            raise ValueError(f"--n must be >= 1, got {args.n}")
        sampler, bonds = prepare(args.model, sampler_config(args), device=args.device, bonds=bonds,
                                 formula=args.formula)
        update, bar = progress_callback(True, args.n)
        written = 0

        def chunks() -> Iterator:
            nonlocal written
            first = 0
            while written < args.n:
                mols = make_molecules(sampler, min(CHUNK, args.n - written), seed=args.seed, first_index=first,
                                      num_atoms=args.num_atoms, formula=args.formula,
                                      num_heavy_atoms=args.num_heavy_atoms, bonds=bonds, valid_only=args.valid_only,
                                      max_draws=args.max_draws, progress=update or False)
                first += mols[0].properties.get("drawn", len(mols)) if mols else 0
                if args.relax:
                    from unite_mol.relax import relax as relax_molecules

                    mols = relax_molecules(mols)
                for m in mols:
                    written += 1
                    yield m

        try:
            if args.out.lower().endswith(".csv"):
                _write_table(args.out, chunks())
            else:   # --bonds none: atoms only, no bond block perceived on the way out
                io.write(args.out, chunks(), bond_method=None if bonds is None else "edm")
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
        from unite_mol.model_io import load_model, save_model

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
