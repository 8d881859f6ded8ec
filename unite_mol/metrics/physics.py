"""The physical yardstick of generated molecules: GFN2-xTB relaxation, PoseBusters, geometry distributions.

EDM's stability reads bonds off bond-length windows several picometres wide, and a sampler can be steered
into those windows without making a molecule more physical. :func:`physics_metrics` therefore reports, for a
set of generated molecules (and for the data itself, as the calibration row), what physics says:

``xtb/...``
    GFN2-xTB relaxation (:func:`unite_mol.metrics.xtb.xtb_relax`: tblite, L-BFGS to 1e-3 Eh/bohr, charge from
    the formal charges) of up to ``xtb_n`` molecules that are valid and connected (the subset the field
    relaxes; the first ``xtb_n`` in sample order, ``xtb/n`` says how many), by EDM's bonds unless ``valid_by``
    names another protocol of :func:`unite_mol.metrics.evaluate` (drug-sized molecules: ``"openbabel"``, as
    EDM's valence tables fail there): median and mean relaxation
    energy E(input) - E(relaxed) in kcal/mol, and what relaxation moved: mean absolute bond-length change
    (mA, over the molecule's bonds: its own if it has them, else Open Babel's), mean absolute bond-angle
    change (degrees, over bonded triples) and the Kabsch RMSD between input and relaxed geometry (A).
    Relaxations run in ``workers`` processes, one OpenMP thread each.
``posebusters/...``
    The share of molecules passing every PoseBusters ``"mol"`` check (:func:`unite_mol.metrics.drugs.
    posebusters_checks`), with the molecules' own bonds (``posebusters/own``) and with Open Babel's
    (``posebusters/openbabel``), over the first ``pb_n`` molecules (``posebusters/n``).
``usable/...``
    The share that is usable in the strict sense of :meth:`unite_mol.Molecule.invalid_reason` (sanitisable,
    one piece, no radicals) with the own bonds, RDKit's and Open Babel's perception.
``w1/...``
    Wasserstein-1 distances to the ``reference`` molecules (the test split) of bond lengths per element pair
    (mA) and bond angles per element triple (degrees, centre atom in the middle), both sides' bonds perceived
    by Open Babel so that neither side is read with the model's or the metric's own bonds. Pairs / triples with
    fewer than 20 values on either side are left out.

Nothing here reads EDM's bond-length tables except through :func:`unite_mol.metrics.evaluate`, for the
valid-and-connected filter that selects the relaxed subset (``valid_by="edm"``, the default).
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from unite_mol.metrics.geometry import angle_triples, triple_angles
from unite_mol.molecule import Molecule

XTB_N = 200          # molecules relaxed per row (the protocol: up to 200 valid+connected ones)
MIN_VALUES = 20      # a pair / triple needs this many values on both sides for a W1 entry
W1_PAIRS = ("C-C", "C-N", "C-O", "C-H", "N-H", "O-H", "C-F", "N-N", "N-O")
W1_TRIPLES = ("C-C-C", "C-N-C", "C-C-N", "C-C-O", "C-O-C", "N-C-N", "O-C-O", "H-C-H", "C-C-H")


# ------------------------------------------------------------------------------------------ bonds & angles
def _bond_rows(mol: Molecule) -> np.ndarray:
    """(n_bonds, 3) rows (i, j, order) of the molecule's own bonds, else Open Babel's."""
    if mol.bonds is not None and len(mol.bonds):
        return np.asarray(mol.bonds)
    from unite_mol.bonds import perceive_bonds

    return np.asarray(perceive_bonds(mol, "openbabel").bonds)


def relaxation_changes(x0: np.ndarray, x1: np.ndarray, bonds: np.ndarray) -> dict[str, float]:
    """What relaxation moved: mean |bond-length change| (mA), mean |angle change| (degrees), Kabsch RMSD (A)."""
    from unite_mol.geometry import kabsch_rmsd

    out = {"rmsd_A": float(kabsch_rmsd(x0, x1))}
    if len(bonds):
        i, j = np.asarray(bonds)[:, 0].astype(int), np.asarray(bonds)[:, 1].astype(int)
        d0, d1 = np.linalg.norm(x0[i] - x0[j], axis=1), np.linalg.norm(x1[i] - x1[j], axis=1)
        out["bond_change_mA"] = float(1000 * np.abs(d1 - d0).mean())
        tri = angle_triples(len(x0), bonds)
        moved = np.abs(triple_angles(x1, tri) - triple_angles(x0, tri))
        out["angle_change_deg"] = float(moved.mean()) if len(tri) else np.nan
    else:
        out["bond_change_mA"] = out["angle_change_deg"] = np.nan
    return out


# ---------------------------------------------------------------------------------------------- workers
def _relax_one(item: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]) -> dict[str, Any]:
    """xTB-relax one molecule given as arrays (picklable for the worker pool): the record of
    :func:`unite_mol.metrics.xtb.xtb_record` plus what relaxation moved."""
    from unite_mol.metrics.xtb import xtb_record

    numbers, positions, charges, bonds = item
    mol = Molecule(numbers, positions, charges=charges, bonds=bonds)
    rec, r = xtb_record(mol)
    if r is not None:
        rec.update(relaxation_changes(mol.positions, r.positions, _bond_rows(mol)))
    return rec


def _busted(mols: list[Molecule], perceived: list[Molecule]) -> list[dict[str, Any]]:
    """PoseBusters ``mol`` checks of a chunk of molecules with their own bonds and with Open Babel's
    (``perceived``; one PoseBusters set-up per chunk and bond source: building one costs about as much as
    checking a molecule)."""
    from unite_mol.metrics.drugs import posebusters_checks

    out: list[dict[str, Any]] = [{} for _ in mols]
    for name, ms in (("own", mols), ("openbabel", perceived)):
        have = [k for k, m in enumerate(ms) if m.bonds is not None]
        for k in set(range(len(ms))) - set(have):
            out[k][f"pb_{name}"] = None
        if have:
            _, recs = posebusters_checks([ms[k] for k in have])
            for k, rec in zip(have, recs):
                out[k][f"pb_{name}"] = bool(rec["pb_ok"])
                out[k][f"pb_{name}_reason"] = rec["pb_reason"]
    return out


def _usable(mol: Molecule, perceived: Molecule) -> dict[str, bool]:
    """Usable (:meth:`Molecule.invalid_reason`) with the own bonds, RDKit's and Open Babel's (``perceived``)."""
    from unite_mol.bonds import perceive_bonds

    out = {"usable_own": mol.bonds is not None and not mol.invalid_reason(),
           "usable_openbabel": not perceived.invalid_reason()}
    try:
        out["usable_rdkit"] = not perceive_bonds(mol, "rdkit").invalid_reason()
    except (ValueError, RuntimeError):
        out["usable_rdkit"] = False
    return out


CHUNK = 25   # molecules per PoseBusters task


def _checks(items: list[tuple]) -> list[dict[str, Any]]:
    """PoseBusters and the usable check of a chunk of molecules (one worker task; Open Babel perceives each
    molecule once for both; RDKit's messages are not printed, the reasons are in the records)."""
    from rdkit.rdBase import BlockLogs

    from unite_mol.bonds import perceive_bonds

    with BlockLogs():
        mols = [Molecule(z, x, charges=q, bonds=b) for z, x, q, b in items]
        perceived = [perceive_bonds(m, "openbabel") for m in mols]
        return [{**b, **_usable(m, p)} for b, m, p in zip(_busted(mols, perceived), mols, perceived)]


def _items(mols: Sequence[Molecule]) -> list[tuple]:
    return [(m.numbers, m.positions, m.formal_charges, m.bonds) for m in mols]


def _pool_map(fn: Callable, items: list, workers: int, progress: Callable[[str, int, int], None] | None,
              what: str) -> list:
    """``fn`` over ``items`` in ``workers`` processes (in order), reporting ``progress(what, done, total)``."""
    if not items:
        return []
    if progress:
        progress(what, 0, len(items))   # the phase starts (rates and time left count from here)
    out = []
    if workers <= 1:
        for k, it in enumerate(items):
            out.append(fn(it))
            if progress:
                progress(what, k + 1, len(items))
        return out
    import multiprocessing as mp

    # spawned, not forked: a fork of a process whose OpenMP pools are running (torch's) hangs in tblite's;
    # the workers inherit OMP_NUM_THREADS=1 (one thread each, set before their libraries load)
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            for k, r in enumerate(ex.map(fn, items)):
                out.append(r)
                if progress:
                    progress(what, k + 1, len(items))
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = old
    return out


# ------------------------------------------------------------------------------------------ distributions
def geometry_values(mols: Sequence[Molecule]) -> tuple[dict[str, list], dict[str, list]]:
    """Bond lengths (A) per element pair and angles (degrees) per element triple, Open Babel bonds."""
    from unite_mol.bonds import perceive_bonds

    lengths: dict[str, list] = defaultdict(list)
    angles: dict[str, list] = defaultdict(list)
    for m in mols:
        try:
            bonds = np.asarray(perceive_bonds(m, "openbabel").bonds)
        except (ValueError, RuntimeError):
            continue
        if not len(bonds):
            continue
        sym = m.symbols
        for i, j in bonds[:, :2].astype(int):
            a, b = sorted((sym[i], sym[j]), key=lambda s: (s != "C", s != "N", s != "O", s))
            lengths[f"{a}-{b}"].append(float(np.linalg.norm(m.positions[i] - m.positions[j])))
        tri = angle_triples(m.num_atoms, bonds)
        for (a, c, b), ang in zip(tri, triple_angles(m.positions, tri)):
            ends = sorted((sym[a], sym[b]), key=lambda s: (s == "H", s))
            angles[f"{ends[0]}-{sym[c]}-{ends[1]}"].append(float(ang))
    return lengths, angles


Geometry = tuple[dict[str, list], dict[str, list]]   # what geometry_values returns


def geometry_w1(generated: Sequence[Molecule], reference: Sequence[Molecule] | Geometry) -> dict[str, float]:
    """W1 of bond lengths per pair (``w1/bond/C-C``, mA) and angles per triple (``w1/angle/C-C-C``, degrees);
    ``reference``: molecules or their :func:`geometry_values` (computed once for many calls)."""
    from scipy.stats import wasserstein_distance

    gl, ga = geometry_values(generated)
    rl, ra = reference if isinstance(reference, tuple) else geometry_values(reference)
    out: dict[str, float] = {}
    for key in W1_PAIRS:
        if len(gl.get(key, [])) >= MIN_VALUES and len(rl.get(key, [])) >= MIN_VALUES:
            out[f"w1/bond/{key}"] = 1000 * float(wasserstein_distance(gl[key], rl[key]))
    for key in W1_TRIPLES:
        if len(ga.get(key, [])) >= MIN_VALUES and len(ra.get(key, [])) >= MIN_VALUES:
            out[f"w1/angle/{key}"] = float(wasserstein_distance(ga[key], ra[key]))
    return out


# ------------------------------------------------------------------------------------------------ report
def relaxation_metrics(molecules: Sequence[Molecule], *, xtb_n: int = XTB_N, workers: int = 2, valid_by: str = "edm",
                       progress: Callable[[str, int, int], None] | None = None) -> tuple[dict[str, float], dict[int, dict]]:
    """GFN2-xTB relaxation of the first ``xtb_n`` ``molecules`` that are valid and connected under the
    ``valid_by`` protocol of :func:`unite_mol.metrics.evaluate` (``xtb/...`` keys of :func:`physics_metrics`);
    records by molecule index."""
    from unite_mol.metrics import evaluate

    mols = list(molecules)
    if not mols:
        return {"xtb/n": 0.0}, {}
    ev = evaluate(mols, protocols=(valid_by,)).records
    ok = (ev[f"{valid_by}_valid"] & ev[f"{valid_by}_connected"]).to_numpy(bool)
    chosen = np.flatnonzero(ok)[:xtb_n]
    relaxed = _pool_map(_relax_one, _items([mols[k] for k in chosen]), workers, progress, "xtb")
    ran = [r for r in relaxed if r["xtb_ran"]]
    e = np.array([r["xtb_relax_kcal"] for r in ran])
    metrics = {"xtb/n": float(len(chosen)), "xtb/failed": float(len(relaxed) - len(ran)),
               "xtb/not_converged": float(sum(not r["xtb_converged"] for r in ran)),
               "xtb/relax_median_kcal": float(np.median(e)) if len(e) else np.nan,
               "xtb/relax_mean_kcal": float(e.mean()) if len(e) else np.nan}
    for key in ("bond_change_mA", "angle_change_deg", "rmsd_A"):
        v = np.array([r[key] for r in ran], dtype=float)
        metrics[f"xtb/{key}"] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
    return metrics, {int(k): r for k, r in zip(chosen, relaxed)}


def physics_metrics(molecules: Sequence[Molecule], *, reference: Sequence[Molecule] | Geometry | None = None,
                    xtb_n: int = XTB_N, pb_n: int | None = None, workers: int = 2, valid_by: str = "edm",
                    progress: Callable[[str, int, int], None] | None = None) -> tuple[dict[str, float], list[dict]]:
    """The physical yardstick of ``molecules`` (see the module docstring for every key).

    Args:
        molecules: ``Molecule`` objects (with bonds where they have them: the model's own).
        reference: molecules to compare geometry distributions with (the test split), or their
            :func:`geometry_values`; ``None``: no ``w1``.
        xtb_n: most valid-and-connected molecules to relax with GFN2-xTB (0: none).
        valid_by: the :func:`unite_mol.metrics.evaluate` protocol that decides valid and connected for xTB
            (``"edm"``, ``"rdkit"``, ``"openbabel"`` or ``"bonds"``, the molecules' own).
        pb_n: most molecules to run PoseBusters and the usable check on (``None``: all).
        workers: processes for xTB and PoseBusters.
        progress: ``progress(what, done, total)`` as each phase starts (``done = 0``) and after each task.

    Returns:
        ``(metrics, records)``: flat metrics and one record per molecule that was relaxed or checked.

    Raises:
        TypeError: when an item is not a ``Molecule``.
        ValueError: for bad counts or an unknown ``valid_by``.
    """
    from unite_mol.metrics import KNOWN_PROTOCOLS

    mols = list(molecules)
    for k, m in enumerate(mols):
        if not isinstance(m, Molecule):
            raise TypeError(f"molecule {k} is a {type(m).__name__}, not a unite_mol.Molecule")
    if xtb_n < 0 or (pb_n is not None and pb_n < 0) or workers < 1:
        raise ValueError(f"xtb_n and pb_n must be >= 0 and workers >= 1, got {xtb_n}, {pb_n}, {workers}")
    if valid_by not in KNOWN_PROTOCOLS:
        raise ValueError(f"valid_by must be one of {KNOWN_PROTOCOLS}, got {valid_by!r}")
    metrics: dict[str, float] = {"n": float(len(mols))}
    records: list[dict] = [{"index": k} for k in range(len(mols))]
    if not mols:
        return metrics, records
    m_xtb, r_xtb = relaxation_metrics(mols, xtb_n=xtb_n, workers=workers, valid_by=valid_by, progress=progress)
    metrics.update(m_xtb)
    for k, r in r_xtb.items():
        records[k].update(r)
    checked = list(range(len(mols) if pb_n is None else min(pb_n, len(mols))))
    items = _items([mols[k] for k in checked])
    chunks = [items[i: i + CHUNK] for i in range(0, len(items), CHUNK)]
    checks = [r for chunk in _pool_map(_checks, chunks, workers, progress, f"posebusters ({CHUNK} a chunk)")
              for r in chunk]
    for k, c in zip(checked, checks):
        records[k].update(c)
    metrics["posebusters/n"] = float(len(checked))
    for name in ("own", "openbabel"):
        metrics[f"posebusters/{name}"] = (sum(bool(c.get(f"pb_{name}")) for c in checks) / len(checks)
                                          if checks else np.nan)
    for name in ("own", "rdkit", "openbabel"):
        metrics[f"usable/{name}"] = sum(c[f"usable_{name}"] for c in checks) / len(checks) if checks else np.nan
    if reference is not None:
        metrics.update(geometry_w1(mols, reference))
    return metrics, records
