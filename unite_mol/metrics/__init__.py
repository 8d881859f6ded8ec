"""The field's molecule metrics, as pure functions: ``evaluate`` (generation) and ``reconstruction``.

Every metric is re-implemented from its published definition (EDM, Hoogeboom et al. 2022; GeoLDM; ADiT,
Joshi et al. 2025), not copied. Each protocol is reported under its own name:

``edm/...``
    Bonds from interatomic distances with the EDM tables (:func:`unite_mol.metrics.edm_tables.edm_bond_orders`).
    ``atom_stability``: fraction of atoms whose summed bond order is an allowed valence;
    ``mol_stability``: fraction of molecules with every atom stable. ``validity``: the RDKit molecule
    built from those bonds sanitises (as in EDM/GeoLDM, the whole molecule is sanitised; its largest
    fragment gives the SMILES for uniqueness and novelty, so disconnected molecules still count);
    ``connected``: fraction of all molecules that are valid *and* one fragment (which the field's
    validity hides); ``uniqueness``: distinct canonical SMILES among valid; ``novelty``: unique valid
    SMILES absent from ``reference`` divided by unique valid (EDM).
``rdkit/...``
    The same with RDKit's ``rdDetermineBonds`` perception (orders and charges from the geometry).
``openbabel/...``
    Open Babel's perception (the route of ADiT and UNITE's QM9 table), then RDKit sanitisation on the
    whole molecule (connectivity not required); ``novelty`` there is divided by *valid* molecules, as ADiT does.
    (ADiT goes through a PDB file; we build the ``OBMol`` directly with the same perception calls.)
``bonds/...`` (opt-in: add ``"bonds"`` to ``protocols``)
    The molecule's own bonds (e.g. predicted by a model), no perception; see
    :mod:`unite_mol.metrics.bond_protocol`. Stability counts an aromatic bond as 1.5 and checks the summed
    valence against an (element, formal charge) table (Nikitin et al. 2025, "GEOM-Drugs Revisited");
    validity, ``connected``, uniqueness and novelty as for ``edm``. A molecule with ``bonds=None`` is a
    recorded failure ("no bonds").

Formal charges on the input molecules (``Molecule.charges``, e.g. read from an SDF file) are treated per
protocol, so that a charge can never turn a molecule valid under a protocol that does not use it:

* ``edm``: ignored. Bonds come from distances and the molecule is built neutral, as in EDM's code (an
  ammonium N with four bonds is invalid there, whatever charge the input gave it). Stability never
  looked at charges.
* ``rdkit`` and ``openbabel``: replaced. The perception assigns every formal charge itself, for a total
  charge of 0.
* ``bonds``: used. The bonds came with those charges (a model that predicts bonds predicts charges too,
  e.g. :func:`unite_mol.refiner.charges_from_bonds`), so both stability and validity read them.

Canonical SMILES: RDKit, hydrogens removed, no stereo (the bonds carry none). ``reference`` for novelty is a
set of such SMILES (e.g. the QM9 training split's own, :func:`unite_mol.data.qm9.training_smiles`).

Inputs may be :class:`Molecule` objects or raw ``(numbers, positions)`` pairs, as a generator emits them:
in a pair, empty molecules, NaN coordinates, unknown elements or overlapping atoms are recorded failures with
their reason, never a crash. Anything else (a string, ``None``, a number, a single Molecule instead of a list)
is a ``TypeError`` naming the item, and a Molecule whose coordinates were made non-finite in place (the
constructor refuses them) a ``ValueError`` naming it: those are mistakes of the caller, not samples to score.
``records`` (a pandas DataFrame) has one row per molecule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from unite_mol.molecule import Molecule

PROTOCOLS = ("edm", "rdkit", "openbabel")  # the default: bonds perceived from the coordinates
KNOWN_PROTOCOLS = PROTOCOLS + ("bonds",)    # "bonds": the molecules' own bonds, opt-in
OVERLAP_A = 0.3  # atoms closer than this are reported as overlapping (validity itself follows the field)


@dataclass
class EvalResult:
    """``metrics``: flat name -> value (fractions in [0, 1]); ``records``: one row per molecule."""

    metrics: dict[str, float]
    records: Any = field(repr=False)

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]


def as_molecule(item: Any, name: str = "molecule") -> tuple[Molecule | None, str]:
    """A validated Molecule from a Molecule or a (numbers, positions) pair, or (None, reason) for a pair
    that is no usable molecule (a generator's broken sample: empty, NaN, unknown element, bad shapes).

    Raises:
        TypeError: naming ``name``, if ``item`` is neither a Molecule nor a two-item tuple or list.
        ValueError: naming ``name``, for a Molecule whose coordinates were made non-finite in place.
    """
    if isinstance(item, Molecule):
        return item.check_finite(name), ""
    if not isinstance(item, (tuple, list)) or len(item) != 2 or any(isinstance(x, (str, bytes)) for x in item):
        what = f"a {type(item).__name__}" + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        raise TypeError(f"{name} is {what} ({_short(item)}), not a unite_mol.Molecule or a (numbers, positions) "
                        f"pair")
    try:
        numbers = np.asarray(item[0])
        positions = np.asarray(item[1], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        return None, f"not a molecule: {exc}"
    if numbers.size == 0:
        return None, "empty molecule"
    try:
        return Molecule(numbers, positions), ""
    except ValueError as exc:
        return None, str(exc)


def _short(item: Any, limit: int = 60) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_collection(molecules: Any) -> None:
    """Refuse an argument that is not a collection of molecules (a string, a single Molecule, a mapping).

    Raises:
        TypeError: saying what was passed and what to pass instead.
    """
    if isinstance(molecules, Molecule):
        raise TypeError("pass a list of molecules, e.g. [molecule], not a single Molecule")
    if isinstance(molecules, (str, bytes)) or not isinstance(molecules, Iterable) or isinstance(molecules, dict):
        raise TypeError(f"molecules must be an iterable of unite_mol.Molecule objects or (numbers, positions) "
                        f"pairs, got a {type(molecules).__name__} ({_short(molecules)}); to score a file, "
                        f"read it first: unite_mol.io.read(path)")


def _Quiet() -> Any:
    """RDKit's log silenced for the duration of a ``with`` block only (no global state left behind)."""
    from rdkit.rdBase import BlockLogs

    return BlockLogs()


def canonical(rdmol: Any) -> str:
    from rdkit import Chem

    m = Chem.RemoveHs(rdmol, sanitize=False)
    Chem.RemoveStereochemistry(m)
    return Chem.MolToSmiles(m)


def edm_stability(mol: Molecule) -> tuple[np.ndarray, np.ndarray]:
    """(EDM bond-order matrix, per-atom stability) of one molecule."""
    from unite_mol.metrics.edm_tables import allowed_valence_table, edm_bond_orders

    if not _VALENCES:
        _VALENCES.update(allowed_valence_table())
    orders = edm_bond_orders(mol.numbers, mol.positions)
    valence = orders.sum(1)
    stable = np.array([v in _VALENCES.get(int(z), ()) for z, v in zip(mol.numbers, valence)], dtype=bool)
    return orders, stable


_VALENCES: dict[int, tuple[int, ...]] = {}  # filled on first use from unite_mol.metrics.edm_tables


def _validity(mol: Molecule, protocol: str, orders: np.ndarray | None) -> dict[str, Any]:
    """One protocol's validity for one molecule: valid, connected, smiles, reason."""
    from rdkit import Chem

    from unite_mol.bonds import bonds_from_matrix

    try:
        if protocol == "bonds":
            if mol.bonds is None:  # the stability part already records "bonds: no bonds"
                return {"valid": False, "connected": False, "smiles": None, "reason": ""}
            bonded = mol
        elif protocol == "edm":  # EDM builds a neutral molecule from the distances: input charges are dropped
            bonded = mol.replace(bonds=bonds_from_matrix(orders), charges=None)
        else:  # perception assigns every formal charge itself (total charge 0); the input's are replaced
            bonded = mol.with_bonds(protocol)
            note = bonded.properties.get("bond_perception", "")
            if "connectivity-only" in str(note):
                return {"valid": False, "connected": False, "smiles": None,
                        "reason": f"{protocol}: no bond orders could be assigned"}
        rd = bonded.to_rdkit(sanitize=False)
    except ValueError as exc:
        return {"valid": False, "connected": False, "smiles": None, "reason": f"{protocol}: {exc}"}
    try:
        # the whole molecule must sanitise (EDM's compute_validity sanitises it before splitting it)
        Chem.SanitizeMol(rd)
    except (ValueError, RuntimeError) as exc:  # Chem.MolSanitizeException is a ValueError; keep the message
        return {"valid": False, "connected": False, "smiles": None,
                "reason": f"{protocol}: sanitisation failed: {str(exc).splitlines()[0][:160]}"}
    frags = Chem.GetMolFrags(rd, asMols=True, sanitizeFrags=False)
    connected = len(frags) == 1
    # the field's rule (EDM/GeoLDM) scores the largest fragment; ADiT's Open Babel route the whole molecule
    target = max(frags, key=lambda m: m.GetNumAtoms()) if protocol in ("edm", "rdkit", "bonds") else rd
    smiles = canonical(target)
    return {"valid": True, "connected": connected, "smiles": smiles, "reason": ""}


# long: the public entry point: input checks, then one pass per protocol, as the module docstring lists them
def evaluate(molecules: Iterable[Any], *, reference: set[str] | None = None,
             protocols: Sequence[str] = PROTOCOLS, geometry: bool = False,
             reference_molecules: Sequence[Molecule] | None = None) -> EvalResult:
    """Score generated molecules with the field's metrics (see the module docstring).

    Args:
        molecules: ``Molecule`` objects or raw ``(numbers, positions)`` pairs.
        reference: canonical SMILES of the training set, for novelty (``None``: novelty not computed).
        protocols: which protocols to report: bond perception by ``"edm"``, ``"rdkit"``, ``"openbabel"``
            (the default, all three), and ``"bonds"``, the molecules' own bonds (opt-in).
        geometry: also run the (slower) geometry sanity checks of :mod:`unite_mol.metrics.geometry`.
        reference_molecules: molecules for distribution distances (atom counts, elements, bond lengths).

    Returns:
        :class:`EvalResult` with ``metrics`` and per-molecule ``records``.

    Raises:
        ValueError: for an unknown protocol, or a Molecule whose coordinates were made non-finite in place
            (naming its index).
        TypeError: if ``molecules`` is not a collection of molecules (a string, a single Molecule), or an
            item is neither a Molecule nor a ``(numbers, positions)`` pair (naming its index).
    """
    import pandas as pd

    from unite_mol.metrics.bond_protocol import stability_row

    check_collection(molecules)
    bad = [p for p in protocols if p not in KNOWN_PROTOCOLS]
    if bad:
        raise ValueError(f"unknown protocols {bad}; choose from {KNOWN_PROTOCOLS}")
    own_bonds = "bonds" in protocols
    rows = []
    mols: list[Molecule | None] = []
    atoms_total = atoms_stable = own_stable = 0
    with _Quiet():
        for k, item in enumerate(molecules):
            mol, reason = as_molecule(item, f"molecules[{k}]")
            row: dict[str, Any] = {"index": k}
            mols.append(mol)
            if mol is None:
                row.update(num_atoms=0, formula=None, reason=reason, mol_stable=False, atom_stable_frac=0.0)
                n_in = len(np.asarray(item[0])) if isinstance(item, tuple) and len(item) == 2 else 0
                atoms_total += n_in
                for p in protocols:
                    row.update({f"{p}_valid": False, f"{p}_connected": False, f"{p}_smiles": None})
                if own_bonds:
                    row.update(bonds_mol_stable=False, bonds_atom_stable_frac=0.0)
                rows.append(row)
                continue
            orders, stable = edm_stability(mol)
            atoms_total += mol.num_atoms
            atoms_stable += int(stable.sum())
            unknown = [s for s, z in zip(mol.symbols, mol.numbers) if int(z) not in _VALENCES]
            reasons = []
            d = mol.distance_matrix() + np.eye(mol.num_atoms) * 1e9
            if d.min() < OVERLAP_A:
                i, j = np.unravel_index(int(np.argmin(d)), d.shape)
                reasons.append(f"overlapping atoms {min(i, j)} and {max(i, j)} ({d[i, j]:.3f} A apart)")
            if not stable.all():
                bad_atoms = [f"{mol.symbols[i]}{i}(valence {int(orders[i].sum())})" for i in np.flatnonzero(~stable)[:4]]
                reasons.append("edm: unstable atoms " + ", ".join(bad_atoms) + (f"; no valence table for {sorted(set(unknown))}" if unknown else ""))
            row.update(num_atoms=mol.num_atoms, formula=mol.formula, mol_stable=bool(stable.all()),
                       atom_stable_frac=float(stable.mean()))
            if own_bonds:
                s = stability_row(mol)
                own_stable += s["stable_atoms"]
                row.update(bonds_mol_stable=s["mol_stable"],
                           bonds_atom_stable_frac=s["stable_atoms"] / mol.num_atoms)
                if s["reason"]:
                    reasons.append(s["reason"])
            for p in protocols:
                v = _validity(mol, p, orders)
                row.update({f"{p}_valid": v["valid"], f"{p}_connected": v["connected"], f"{p}_smiles": v["smiles"]})
                if v["reason"]:
                    reasons.append(v["reason"])
            row["reason"] = "; ".join(reasons)
            rows.append(row)
    records = pd.DataFrame(rows)
    n = len(rows)
    metrics: dict[str, float] = {"n": float(n)}
    if n == 0:
        return EvalResult(metrics, records)
    metrics["edm/atom_stability"] = atoms_stable / max(atoms_total, 1)
    metrics["edm/mol_stability"] = float(records["mol_stable"].mean())
    if own_bonds:
        metrics["bonds/atom_stability"] = own_stable / max(atoms_total, 1)
        metrics["bonds/mol_stability"] = float(records["bonds_mol_stable"].mean())
    for p in protocols:
        valid = records[f"{p}_valid"].to_numpy(bool)
        smiles = [s for s, ok in zip(records[f"{p}_smiles"], valid) if ok]
        uniq = set(smiles)
        metrics[f"{p}/validity"] = float(valid.mean())
        metrics[f"{p}/connected"] = float((valid & records[f"{p}_connected"].to_numpy(bool)).mean())
        metrics[f"{p}/uniqueness"] = len(uniq) / len(smiles) if smiles else float("nan")
        metrics[f"{p}/valid_and_unique"] = len(uniq) / n
        if reference is not None:
            novel_unique = [s for s in uniq if s not in reference]
            novel_valid = [s for s in smiles if s not in reference]
            metrics[f"{p}/novelty"] = (len(novel_valid) / len(smiles) if p == "openbabel" else len(novel_unique) / len(uniq)) if smiles else float("nan")
    if geometry or reference_molecules is not None:
        from unite_mol.metrics.geometry import distribution_distances, geometry_checks

        good = [m for m in mols if m is not None]
        if geometry:
            g_metrics, g_records = geometry_checks(good)
            metrics.update({f"geometry/{k}": v for k, v in g_metrics.items()})
            rows_of_good = [k for k, m in enumerate(mols) if m is not None]
            for col in ("typable", "clash", "strain_kcal"):
                values = [np.nan] * n
                for k, g in zip(rows_of_good, g_records):
                    values[k] = g.get(col, np.nan)
                records[f"geometry_{col}"] = values
            records["geometry_reason"] = [""] * n
            for k, g in zip(rows_of_good, g_records):
                records.loc[k, "geometry_reason"] = g["reason"]
        if reference_molecules is not None:
            metrics.update({f"distribution/{k}": v for k, v in distribution_distances(good, reference_molecules).items()})
    return EvalResult(metrics, records)


def reconstruction(inputs: Sequence[Molecule], outputs: Sequence[Any], *, rmsd_threshold: float = 0.1,
                   method: str = "openbabel") -> EvalResult:
    """Reconstruction metrics of decoded molecules against their inputs (same atom order).

    ``elem_acc``: fraction of atoms with the right element; ``exact_elements``: molecules with every
    element right; ``match_adit``: the decoded molecule's InChI, after ``method`` bond perception, equals
    the input's (ADiT); ``match_strict``: every element right and aligned RMSD < ``rmsd_threshold`` A;
    ``rmsd``: mean Kabsch RMSD (proper rotations) over ADiT-matched molecules, ``rmsd_median`` likewise;
    ``rmsd_all_median``: over all molecules with the right atom count; ``bond_recovery``: fraction of the
    input's EDM bonds (pair and order) present in the output.

    Raises:
        ValueError: if ``inputs`` and ``outputs`` differ in length.
    """
    import pandas as pd

    from unite_mol.metrics.edm_tables import edm_bond_orders
    from unite_mol.geometry import kabsch_rmsd

    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    rows = []
    atoms = right = 0
    bonds_total = bonds_found = 0
    with _Quiet():
        for k, (inp, item) in enumerate(zip(inputs, outputs)):
            out, reason = as_molecule(item, f"outputs[{k}]")
            row: dict[str, Any] = {"index": k, "reason": reason}
            inp.check_finite(f"inputs[{k}]")
            atoms += inp.num_atoms
            if out is None or out.num_atoms != inp.num_atoms:
                row.update(elem_acc=0.0, exact=False, match_adit=False, match_strict=False, rmsd=np.nan,
                           reason=reason or f"atom count {out.num_atoms} != {inp.num_atoms}")
                rows.append(row)
                continue
            same = out.numbers == inp.numbers
            right += int(same.sum())
            rmsd = kabsch_rmsd(out.positions, inp.positions)
            o_in = edm_bond_orders(inp.numbers, inp.positions)
            o_out = edm_bond_orders(out.numbers, out.positions)
            iu = np.triu_indices(inp.num_atoms, 1)
            has = o_in[iu] > 0
            bonds_total += int(has.sum())
            bonds_found += int((has & (o_in[iu] == o_out[iu])).sum())
            inchi_in = _inchi(inp, method)
            inchi_out = _inchi(out, method)
            match = inchi_in is not None and inchi_in == inchi_out
            row.update(elem_acc=float(same.mean()), exact=bool(same.all()), rmsd=rmsd, match_adit=bool(match),
                       match_strict=bool(same.all() and rmsd < rmsd_threshold),
                       reason="" if match else ("input has no InChI" if inchi_in is None else "InChI differs"))
            rows.append(row)
    rec = pd.DataFrame(rows)
    matched = rec["rmsd"][rec["match_adit"]]
    metrics = {
        "n": float(len(rec)), "elem_acc": right / max(atoms, 1), "exact_elements": float(rec["exact"].mean()),
        "match_adit": float(rec["match_adit"].mean()), "match_strict": float(rec["match_strict"].mean()),
        "rmsd_threshold": rmsd_threshold,
        "rmsd": float(matched.mean()) if len(matched) else float("nan"),
        "rmsd_median": float(matched.median()) if len(matched) else float("nan"),
        "rmsd_all_median": float(rec["rmsd"].median()),
        "bond_recovery": bonds_found / max(bonds_total, 1),
    }
    return EvalResult(metrics, rec)


def _inchi(mol: Molecule, method: str) -> str | None:
    from rdkit import Chem

    try:
        rd = mol.with_bonds(method).to_rdkit(sanitize=True)
        return Chem.MolToInchi(rd) or None
    except (ValueError, RuntimeError):
        return None
