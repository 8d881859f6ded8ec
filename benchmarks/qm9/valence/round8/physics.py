"""Does the bond-length term make geometries better, or only agree with EDM's tables?

Checks that do not use EDM's bond-length tables, on the same samples with and without the term:
  * bond lengths by the bond head's own bonds (element pair + order) against the QM9 test set's lengths for
    the same bond type (labels: Open Babel + RDKit aromaticity, ``unite_mol.data.bond_labels``): the median
    absolute deviation from the data's median, per type and over all bonds;
  * MMFF94 relaxation on the head's bonds (``unite_mol.relax``): how far the force field moves each molecule
    (RMSD, A) and how much energy it releases (kcal/mol), paired over the samples whose bond graph is the same
    with and without the term (so only the geometry differs), and on QM9 test molecules as a floor;
  * Open Babel's perception (its own bond rules): valid + connected.

Ran at commit 99eebac: the bond-length term (``generate(valence_lengths=...)``) was removed afterwards (issue 26,
it read the evaluator's tables), so this script no longer runs on the current package; check out that commit.

Usage: python benchmarks/qm9/valence/round8/physics.py [--n 500] [--seed 0] [--weights 0 0.1 0.3]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ELEMENT = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}
ORDER = {1: "-", 2: "=", 3: "#", 4: ":"}


def bond_type(za: int, zb: int, order: int) -> str:
    a, b = sorted((ELEMENT.get(int(za), str(za)), ELEMENT.get(int(zb), str(zb))), key=lambda s: "HCNOF".find(s))
    return f"{b}{ORDER.get(int(order), '?')}{a}" if a == "H" else f"{a}{ORDER.get(int(order), '?')}{b}"


def lengths(numbers, positions, bonds) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for i, j, o in np.asarray(bonds).reshape(-1, 3):
        out.setdefault(bond_type(numbers[i], numbers[j], o), []).append(float(np.linalg.norm(positions[i] - positions[j])))
    return out


def data_lengths(limit: int) -> dict[str, np.ndarray]:
    from unite_mol.data.bond_labels import qm9_bond_labels
    from unite_mol.data.qm9 import qm9

    test = qm9("test")
    bo, rows = qm9_bond_labels("test")
    acc: dict[str, list[float]] = {}
    for k in range(min(limit, len(test))):
        s, e = test.offsets[k], test.offsets[k + 1]
        for key, v in lengths(test.numbers[s:e], test.positions[s:e], rows[bo[k]:bo[k + 1]]).items():
            acc.setdefault(key, []).extend(v)
    return {k: np.asarray(v) for k, v in acc.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--data", type=int, default=3000, help="QM9 test molecules for the reference lengths")
    ap.add_argument("--out", default=str(Path(__file__).with_name("physics.json")))
    args = ap.parse_args()

    from unite_mol import generate
    from unite_mol.metrics import evaluate
    from unite_mol.relax import relax

    ref = data_lengths(args.data)
    med = {k: float(np.median(v)) for k, v in ref.items()}
    from unite_mol.data.qm9 import qm9
    from unite_mol.data.bond_labels import qm9_bond_labels

    test = qm9("test")
    bo, rows = qm9_bond_labels("test")
    data_mols = [test[k].replace(bonds=rows[bo[k]:bo[k + 1]]) for k in range(200)]
    data_relaxed = relax(data_mols)
    floor = [m.properties["relax_rmsd_A"] for m in data_relaxed if m.properties.get("relaxed")]
    result = {"n": args.n, "seed": args.seed, "data_lengths_from": args.data,
              "data_relax_rmsd_median_A": float(np.median(floor)), "data_relaxed": len(floor), "arms": {}}
    runs = {}
    for w in args.weights:
        t0 = time.time()
        mols = generate(args.n, seed=args.seed, valence_lengths=w, bonds="model", progress=False)
        gen_s = time.time() - t0
        relaxed = relax(mols)
        dev: dict[str, list[float]] = {}
        for m in mols:
            for key, v in lengths(m.numbers, m.positions, m.bonds).items():
                if key in med:
                    dev.setdefault(key, []).extend(abs(x - med[key]) for x in v)
        allv = np.concatenate([np.asarray(v) for v in dev.values()])
        ob = evaluate(mols, protocols=("openbabel",)).metrics
        runs[w] = (mols, relaxed)
        result["arms"][str(w)] = {
            "generate_s": round(gen_s, 1),
            "bond_dev_median_A": float(np.median(allv)), "bond_dev_mean_A": float(allv.mean()),
            "bond_dev_p90_A": float(np.percentile(allv, 90)),
            "bond_dev_by_type_median_A": {k: float(np.median(v)) for k, v in sorted(dev.items()) if len(v) >= 50},
            "relax_rmsd_median_A": float(np.nanmedian([m.properties["relax_rmsd_A"] for m in relaxed])),
            "relax_energy_drop_median_kcal": float(-np.nanmedian([m.properties["relax_energy_change_kcal"] for m in relaxed])),
            "relaxed": int(sum(bool(m.properties.get("relaxed")) for m in relaxed)),
            "openbabel": {k: v for k, v in ob.items() if k.startswith("openbabel/")},
        }
        print(w, json.dumps(result["arms"][str(w)]), flush=True)
    base_mols, base_rel = runs[args.weights[0]]
    for w in args.weights[1:]:
        mols, rel = runs[w]
        same = [i for i, (a, b) in enumerate(zip(base_mols, mols))
                if a.bonds is not None and b.bonds is not None and a.bonds.shape == b.bonds.shape
                and np.array_equal(a.bonds, b.bonds) and base_rel[i].properties.get("relaxed") and rel[i].properties.get("relaxed")]
        r0 = np.array([base_rel[i].properties["relax_rmsd_A"] for i in same])
        r1 = np.array([rel[i].properties["relax_rmsd_A"] for i in same])
        e0 = np.array([-base_rel[i].properties["relax_energy_change_kcal"] for i in same])
        e1 = np.array([-rel[i].properties["relax_energy_change_kcal"] for i in same])
        result["arms"][str(w)]["paired_same_bonds"] = {
            "molecules": len(same), "relax_rmsd_median_A": [float(np.median(r0)), float(np.median(r1))],
            "relax_energy_drop_median_kcal": [float(np.median(e0)), float(np.median(e1))],
            "lower_energy_drop_fraction": float((e1 < e0).mean()), "lower_rmsd_fraction": float((r1 < r0).mean())}
        print(w, "paired", json.dumps(result["arms"][str(w)]["paired_same_bonds"]), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
