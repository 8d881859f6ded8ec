"""The QM9 bench's evaluation of one model: reconstruction (with the rotation error), generation, data row.

Each returns flat ``{"recon/...": ...}`` / ``{"gen/...": ...}`` metrics; :mod:`unite_mol.bench.qm9` puts
them in its table.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch


def reconstruction_eval(model, n: int, *, seed: int = 0, data=None) -> dict[str, float]:
    """Encode -> decode the first ``n`` molecules of ``data`` (default the QM9 test split; any split with flat
    ``numbers``, ``positions``, ``offsets`` arrays) and score them: the same ones for every entry.

    Also the equivariance error: the same molecules randomly rotated, encoded and decoded with the same
    latent-slot noise, against the rotated decodings of the originals; RMSD without any re-alignment
    (0 for an exactly equivariant model), median and 95th percentile over molecules.
    """
    from unite_mol.data import collate_arrays, qm9, random_rotations, rotate
    from unite_mol.metrics import reconstruction

    test = qm9("test") if data is None else data
    rows = np.arange(min(n, len(test)))
    inputs, outputs, equi = [], [], []
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for s in range(0, len(rows), 256):
            batch = collate_arrays(test.numbers, test.positions, test.offsets, rows[s: s + 256]).to(device)
            gen = torch.Generator(device=device).manual_seed(seed + s)
            z, mask = model.encode(batch, generator=gen)
            out = model.adapter.to_arrays(model.decode(z, mask), mask)
            rot = random_rotations(len(batch), generator=torch.Generator().manual_seed(seed + 7 + s)).to(device)
            gen = torch.Generator(device=device).manual_seed(seed + s)
            zr, _ = model.encode(rotate(batch, rot), generator=gen)
            out_r = model.adapter.to_arrays(model.decode(zr, mask), mask)
            for (_, x), (_, xr), r in zip(out, out_r, rot.cpu().double().numpy()):
                equi.append(float(np.sqrt(((x @ r.T - xr) ** 2).sum(1).mean())))
            outputs += out
            inputs += batch.molecules()
    res = reconstruction(inputs, outputs)
    metrics = {f"recon/{k}": v for k, v in res.metrics.items()}
    metrics["recon/equivariance_rmsd_median"] = float(np.median(equi))
    metrics["recon/equivariance_rmsd_p95"] = float(np.percentile(equi, 95))
    return metrics


def generation_eval(model, n: int, steps: int, reference: set[str], *, seed: int = 0,
                    protocols: tuple[str, ...] | None = None,
                    sampler: dict | None = None) -> tuple[dict[str, float], list]:
    """Generation metrics of ``n`` samples: the bond-free protocols (``protocols``, default all of
    :data:`unite_mol.metrics.PROTOCOLS`), and the predicted-bond protocol (``gen/bonds/...``) when the model
    has a bond head. ``sampler``: settings of :class:`unite_mol.sampling.SamplerConfig` besides ``steps``
    (default: generate()'s). Returns (metrics, samples as ``(numbers, positions)`` pairs or molecules)."""
    from unite_mol.generation import generate, generate_arrays
    from unite_mol.metrics import PROTOCOLS, evaluate

    protocols = PROTOCOLS if protocols is None else tuple(protocols)
    model.eval()
    t0 = time.time()
    if model.adapter.config.bond_head:
        arrays = generate(n, seed=seed, sampler={**(sampler or {}), "steps": steps}, model=model, bonds="model")
        protocols = (*protocols, "bonds")
    else:
        arrays = generate_arrays(model, n, seed=seed, sampler={**(sampler or {}), "steps": steps})
    dt = time.time() - t0
    result = evaluate(arrays, reference=reference, protocols=protocols)
    m = {f"gen/{k}": v for k, v in result.metrics.items()}
    m["speed/sample_mol_per_s"] = n / dt
    m["speed/sample_steps"] = steps
    return m, arrays


def physics_eval(samples: list, reference_molecules: Any, *, xtb_n: int, pb_n: int | None, workers: int = 2,
                 valid_by: str = "edm") -> dict[str, float]:
    """:func:`unite_mol.metrics.physics.physics_metrics` of ``samples`` (molecules or ``(numbers, positions)``
    pairs, taken as neutral and without bonds), as ``phys/...`` keys, with a progress line per phase;
    ``workers`` and ``valid_by`` (the protocol that picks the molecules xTB relaxes) as there."""
    from unite_mol.metrics.physics import physics_metrics
    from unite_mol.molecule import Molecule

    mols = [m if isinstance(m, Molecule) else Molecule(*m) for m in samples]
    state: dict[str, Any] = {"what": None, "t0": time.time(), "next": 0.0}

    def progress(what: str, done: int, total: int) -> None:
        """A line at every tenth of each phase, with its rate and the time left."""
        if what != state["what"] or done == 0:
            state.update(what=what, t0=time.time(), next=0.1)
            return
        if done / total + 1e-9 >= state["next"] or done == total:
            dt = max(time.time() - state["t0"], 1e-9)
            rate = f"{done / dt:.2f}/s" if done >= dt else f"{dt / done:.0f} s each"   # slow phases: seconds per item
            print(f"[physics] {what}: {done}/{total}, {rate}, about {(total - done) * dt / done:.0f} s left", flush=True)
            state["next"] = done / total + 0.1

    t0 = time.time()
    metrics, _ = physics_metrics(mols, reference=reference_molecules, xtb_n=xtb_n, pb_n=pb_n, workers=workers,
                                 valid_by=valid_by, progress=progress)
    out = {f"phys/{k}": v for k, v in metrics.items() if k != "n"}
    out["phys/wall_s"] = time.time() - t0
    return out


def test_molecules(n: int | None = None) -> list:
    """The QM9 test split (the first ``n``) as molecules with the bond labels and the charges they imply."""
    from unite_mol.data import qm9
    from unite_mol.data.bond_labels import qm9_bond_labels
    from unite_mol.molecule import Molecule
    from unite_mol.refiner import charges_from_bonds

    test = qm9("test")
    bond_offsets, bond_rows = qm9_bond_labels("test")
    k = len(test) if n is None else min(n, len(test))
    mols = []
    for i in range(k):
        z = test.numbers[test.offsets[i]: test.offsets[i + 1]]
        b = bond_rows[bond_offsets[i]: bond_offsets[i + 1]]
        mols.append(Molecule(z, test.positions[test.offsets[i]: test.offsets[i + 1]], bonds=b,
                             charges=charges_from_bonds(z, b)))
    return mols


def data_row(n: int | None, reference: set[str]) -> dict[str, float]:
    """The QM9 test split itself through the same metric code (calibration); bonds from the bond head's
    training labels, for the predicted-bond protocol."""
    from unite_mol.metrics import PROTOCOLS, evaluate

    result = evaluate(test_molecules(n), reference=reference, protocols=(*PROTOCOLS, "bonds"))
    return {f"gen/{k_}": v for k_, v in result.metrics.items()}
