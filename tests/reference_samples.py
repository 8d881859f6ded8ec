"""The bit-identity reference of the default sampler: ``python tests/reference_samples.py`` rewrites
``tests/data/default_samples.npz`` (run it only when a change of the samples is meant, and say so in the commit).

Two runs of the shipped model: ``generate(32, seed=0)`` at every default, and ``generate(12, seed=0, sampler={"restarts": 1})``.
Each is stored as flat arrays (atomic numbers, positions, bond rows, per-molecule counts) with the torch
version and the precision the defaults resolved to: bit-identity is promised on one machine and torch build,
not across them, so the test skips (saying why) elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RUNS = {"default": dict(n=32), "restarts1": dict(n=12, sampler={"restarts": 1})}
PATH = Path(__file__).resolve().parent / "data" / "default_samples.npz"


def flatten(mols) -> dict[str, np.ndarray]:
    bonds = [np.zeros((0, 3), np.int64) if m.bonds is None else np.asarray(m.bonds, np.int64) for m in mols]
    return {"numbers": np.concatenate([m.numbers for m in mols]),
            "positions": np.concatenate([m.positions for m in mols]),
            "atoms": np.array([len(m.numbers) for m in mols]),
            "bonds": np.concatenate(bonds), "nbonds": np.array([len(b) for b in bonds])}


def make(name: str, model=None) -> dict[str, np.ndarray]:
    from unite_mol import generate

    kw = dict(RUNS[name])
    mols = generate(kw.pop("n"), seed=0, model=model, progress=False, **kw)
    out = flatten(mols)
    out["precision"] = np.array(mols[0].properties["precision"])
    return out


def environment() -> str:
    import torch

    return f"torch {torch.__version__}"


def main() -> None:
    from unite_mol import load_model

    model = load_model()
    arrays = {}
    for name in RUNS:
        arrays.update({f"{name}/{k}": v for k, v in make(name, model).items()})
    arrays["environment"] = np.array(environment())
    PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(PATH, **arrays)
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes; {environment()})")


if __name__ == "__main__":
    main()
