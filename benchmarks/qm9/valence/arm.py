"""Run one ``bench levers`` arm with keyword defaults of the package's functions changed in this process.

    python benchmarks/qm9/valence/arm.py --set generation.generate_samples.restarts=1 \\
        --set molecular.MoleculeAdapter.valence_error.kekule=False -- NAME=unite_mol/pretrained/unite-qm9 \\
        --samples 1000 --recon 0 --seed 0 --threads 1 --out DIR

``--set unite_mol_module.attr[.attr].keyword=value`` (value a Python literal) sets that function's default
for ``keyword``; everything after ``--`` goes to ``python -m unite_mol.bench levers``. With ``PKG`` set in the
environment, that snapshot of the package is imported instead of the working tree's (arms queued while the
code changes).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys


def set_default(spec: str) -> None:
    path, value = spec.split("=", 1)
    *where, keyword = path.split(".")
    obj = importlib.import_module(f"unite_mol.{where[0]}")
    for name in where[1:]:
        obj = getattr(obj, name)
    fn = inspect.unwrap(obj)                 # torch.no_grad and friends wrap the function
    if keyword not in (fn.__kwdefaults__ or {}):
        raise SystemExit(f"{'.'.join(where)} has no keyword-only argument {keyword!r}")
    fn.__kwdefaults__[keyword] = ast.literal_eval(value)


def main(argv: list[str]) -> int:
    if os.environ.get("PKG"):
        sys.path.insert(0, os.environ["PKG"])
    split = argv.index("--") if "--" in argv else len(argv)
    sets, rest = argv[:split], argv[split + 1:]
    for flag, spec in zip(sets[::2], sets[1::2]):
        if flag != "--set":
            raise SystemExit(f"expected --set, got {flag!r}")
        set_default(spec)
    from unite_mol.bench.levers import main as levers
    return levers(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
