"""``python -m unite_mol generate --n 1000 --out samples.sdf``: molecules from a model, to SDF or XYZ."""

from __future__ import annotations

import argparse
import sys
import time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unite_mol", description="unite_mol command line")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate molecules and write them to an SDF or XYZ file",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g.add_argument("--n", type=int, required=True, help="number of molecules")
    g.add_argument("--out", required=True, help="output file: .sdf or .xyz (optionally .gz)")
    g.add_argument("--seed", type=int, default=0, help="sample i depends on (seed, i) only")
    g.add_argument("--model", default=None, help="model path (NAME or NAME.pt with NAME.json beside it); default: shipped QM9 model")
    g.add_argument("--steps", type=int, default=25, help="ODE solver steps (generate()'s default)")
    g.add_argument("--method", default="heun", choices=["heun", "euler"], help="ODE solver")
    g.add_argument("--num-atoms", type=int, default=None, help="atoms per molecule (default: drawn from the training data)")
    g.add_argument("--bonds", default="auto", choices=["auto", "model", "openbabel", "rdkit", "edm", "none"],
                   help="bonds: the model's bond head (model), perceived from 3D, or auto (the head when the model has one)")
    g.add_argument("--batch-size", type=int, default=256, help="molecules integrated together")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    e = sub.add_parser("export", help="copy a trained model (e.g. RUN_DIR/model) to a new place, optionally in float16",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("model", help="source model path (NAME or NAME.pt with NAME.json beside it)")
    e.add_argument("out", help="destination NAME (writes NAME.pt and NAME.json)")
    e.add_argument("--float16", action="store_true", help="store weights in half precision (half the size)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        from unite_mol import io
        from unite_mol.generation import generate

        if args.n < 1:
            print("error: --n must be >= 1", file=sys.stderr)
            return 2
        t0 = time.time()
        try:
            mols = generate(args.n, seed=args.seed, num_atoms=args.num_atoms, steps=args.steps, method=args.method,
                            model=args.model, batch_size=args.batch_size,
                            bonds=None if args.bonds == "none" else args.bonds, device=args.device)
            # molecules already carry bonds unless --bonds none; then SDF output perceives them with EDM's tables
            io.write(args.out, mols, bond_method=args.bonds if args.bonds in ("openbabel", "rdkit") else "edm")
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(mols)} molecules to {args.out} in {time.time() - t0:.1f} s")
    elif args.command == "export":
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
