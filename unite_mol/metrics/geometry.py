"""Geometry and chemistry sanity (the PoseBusters idea, with RDKit), and distribution distances.

Opt-in from :func:`unite_mol.metrics.evaluate` (``geometry=True``, ``reference_molecules=...``): they
cost milliseconds per molecule (an MMFF relaxation each).

* ``mmff_typable``: fraction of molecules (bonds from Open Babel, sanitised) that MMFF94 can type;
* ``strain_median_kcal``: median of E(as generated) - E(after a short MMFF relaxation, 200 iterations),
  over typable molecules;
* ``bond_length_mae_A`` / ``angle_mae_deg``: mean absolute change of bond lengths / bond angles under
  that relaxation (how far the geometry is from what the force field expects);
* ``clash_fraction``: molecules with a pair of atoms that are neither bonded nor share a neighbour
  but are closer than 0.75 x the sum of their covalent radii.

Distribution distances (total variation, 0 = identical, 1 = disjoint) between the generated set and a
reference set: atom counts, elements, and bond lengths (EDM bonds, 0.02 A bins).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from unite_mol.molecule import Molecule

# Covalent radii (Angstrom), Cordero et al. 2008, for the clash check.
COVALENT_RADII = {1: 0.31, 5: 0.84, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57, 14: 1.11, 15: 1.07, 16: 1.05, 17: 1.02,
                  35: 1.20, 53: 1.39}


def angle_triples(n: int, bonds: np.ndarray) -> np.ndarray:
    """(k, 3) bonded triples (a, centre, b), a < b, of ``n`` atoms with bond rows ``(i, j, order)``; centres in
    order, pairs in the order of each centre's bonds."""
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for i, j in np.asarray(bonds).reshape(-1, 3)[:, :2].astype(int):
        nbrs[i].append(j)
        nbrs[j].append(i)
    out = [(min(a, b), c, max(a, b)) for c in range(n) for ia, a in enumerate(nbrs[c]) for b in nbrs[c][ia + 1:]]
    return np.array(out, dtype=int).reshape(-1, 3)


def triple_angles(pos: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """Angles in degrees at the centre atom of each triple of :func:`angle_triples`."""
    if not len(triples):
        return np.zeros(0)
    u = pos[triples[:, 0]] - pos[triples[:, 1]]
    v = pos[triples[:, 2]] - pos[triples[:, 1]]
    cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1) + 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _angles(pos: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    return triple_angles(pos, angle_triples(len(pos), bonds))


def geometry_checks(molecules: Sequence[Molecule], *, max_iters: int = 200) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Per-set geometry metrics and per-molecule records (see the module docstring)."""
    from rdkit.Chem import AllChem
    from rdkit.rdBase import BlockLogs

    records = []
    with BlockLogs():
        for k, mol in enumerate(molecules):
            rec: dict[str, Any] = {"index": k, "typable": False, "clash": False, "reason": ""}
            bonded = mol.with_bonds("openbabel")
            b = bonded.bonds
            bonded_pairs = {(int(i), int(j)) for i, j, _ in b}
            nb = {i: set() for i in range(mol.num_atoms)}
            for i, j in bonded_pairs:
                nb[i].add(j)
                nb[j].add(i)
            d = mol.distance_matrix()
            r = np.array([COVALENT_RADII.get(int(z), 1.5) for z in mol.numbers])
            close = d < 0.75 * (r[:, None] + r[None, :])
            for i, j in zip(*np.nonzero(np.triu(close, 1))):
                if (i, j) not in bonded_pairs and not (nb[i] & nb[j]):
                    rec["clash"] = True
                    break
            try:
                rd = bonded.to_rdkit(sanitize=True)
            except ValueError as exc:
                rec["reason"] = str(exc).splitlines()[0][:160]
                records.append(rec)
                continue
            props = AllChem.MMFFGetMoleculeProperties(rd)
            if props is None:
                rec["reason"] = "MMFF cannot type the molecule"
                records.append(rec)
                continue
            ff = AllChem.MMFFGetMoleculeForceField(rd, props)
            e0 = ff.CalcEnergy()
            ff.Minimize(maxIts=max_iters)
            e1 = ff.CalcEnergy()
            relaxed = np.array(rd.GetConformer().GetPositions())
            bl0 = np.array([d[i, j] for i, j, _ in b])
            bl1 = np.array([np.linalg.norm(relaxed[i] - relaxed[j]) for i, j, _ in b])
            a0, a1 = _angles(mol.positions, b), _angles(relaxed, b)
            rec.update(typable=True, strain_kcal=e0 - e1,
                       bond_length_mae=float(np.abs(bl0 - bl1).mean()) if len(b) else 0.0,
                       angle_mae=float(np.abs(a0 - a1).mean()) if len(a0) else 0.0)
            records.append(rec)
    typ = [r for r in records if r["typable"]]
    n = max(len(records), 1)
    metrics = {
        "mmff_typable": len(typ) / n,
        "strain_median_kcal": float(np.median([r["strain_kcal"] for r in typ])) if typ else float("nan"),
        "bond_length_mae_A": float(np.mean([r["bond_length_mae"] for r in typ])) if typ else float("nan"),
        "angle_mae_deg": float(np.mean([r["angle_mae"] for r in typ])) if typ else float("nan"),
        "clash_fraction": sum(r["clash"] for r in records) / n,
    }
    return metrics, records


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    a = a / max(a.sum(), 1e-12)
    b = b / max(b.sum(), 1e-12)
    return float(0.5 * np.abs(a - b).sum())


def _bond_lengths(mols: Sequence[Molecule]) -> np.ndarray:
    from unite_mol.metrics.edm_tables import edm_bond_orders

    out = []
    for m in mols:
        o = edm_bond_orders(m.numbers, m.positions)
        i, j = np.nonzero(np.triu(o, 1))
        out.append(np.linalg.norm(m.positions[i] - m.positions[j], axis=1))
    return np.concatenate(out) if out else np.zeros(0)


def distribution_distances(generated: Sequence[Molecule], reference: Sequence[Molecule]) -> dict[str, float]:
    """Total-variation distances of atom-count, element and bond-length histograms."""
    if not generated or not reference:
        return {"atom_count_tv": float("nan"), "element_tv": float("nan"), "bond_length_tv": float("nan")}
    n_max = max(max(m.num_atoms for m in generated), max(m.num_atoms for m in reference)) + 1
    counts = lambda ms: np.bincount([m.num_atoms for m in ms], minlength=n_max).astype(float)  # noqa: E731
    elems = lambda ms: np.bincount(np.concatenate([m.numbers for m in ms]), minlength=119).astype(float)  # noqa: E731
    bins = np.arange(0.6, 3.0, 0.02)
    hist = lambda ms: np.histogram(_bond_lengths(ms), bins=bins)[0].astype(float)  # noqa: E731
    return {"atom_count_tv": _tv(counts(generated), counts(reference)),
            "element_tv": _tv(elems(generated), elems(reference)),
            "bond_length_tv": _tv(hist(generated), hist(reference))}
