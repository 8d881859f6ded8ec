"""Drug-molecule quality metrics: PoseBusters checks, GFN2-xTB relaxation energy, MMFF strain and FCD.

The field's generation metrics (:func:`unite_mol.metrics.evaluate`: stability, validity, uniqueness) say
whether a molecule's bonds make chemical sense; for drug-sized molecules one also wants to know whether its
*geometry* is physical and whether the *set* looks like drug-like chemistry. :func:`drug_metrics` reports
four such measures under ``drugs/...`` in one flat dict (see its docstring for every key):

``posebusters``
    The PoseBusters intramolecular checks (Buttenschoen, Morris and Deane, Chem. Sci. 2024) through the
    ``posebusters`` package, its ``"mol"`` configuration (no protein, no reference ligand): loading,
    sanitisation, InChI conversion, one fragment, no radicals, bond lengths / bond angles / internal steric
    clash against RDKit's distance-geometry bounds, aromatic ring flatness, non-aromatic ring non-flatness,
    double bond flatness and internal energy (UFF energy over that of an ETKDG ensemble). Two departures
    from the package's defaults, both for speed and neither changing a result: the energy check runs on one
    thread (the package default is every core), and the config's second, unreported copy of the energy
    check (``posebusters`` 0.6.5 lists it twice) is dropped. A check PoseBusters could not run on a molecule
    (e.g. the geometry checks of a molecule that does not sanitise) reads as *not passed*; such molecules
    are counted in ``posebusters_unchecked`` and their records say which checks and why.
``xtb``
    GFN2-xTB relaxation energy, E(input) - E(relaxed) in kcal/mol (``tblite``, Bannwarth, Ehlert and Grimme
    2019; code in :mod:`unite_mol.metrics.xtb`). The geometry is relaxed in Cartesian coordinates by L-BFGS
    (``scipy``) on the xTB energy and gradient until the largest per-atom force is below ``fmax`` (default
    1e-3 Eh/bohr, about 0.05 eV/A, ASE's usual threshold) or ``max_steps`` iterations have passed. Total
    charge: the sum of the formal charges; unpaired electrons: 0 for an even electron count, else 1. A
    relaxation that did not converge still enters the median and mean (its energy drop is a lower bound; a
    geometry far from a minimum is exactly what the metric should not hide) and is counted in
    ``xtb_not_converged``; one that could not run (SCC failure, overlapping atoms) is counted in
    ``xtb_failed`` with its reason. xTB runs with the OpenMP threads of the process: set ``OMP_NUM_THREADS``
    before Python starts.
``mmff``
    MMFF94 strain, E(input) - E(minimised) in kcal/mol, through :func:`unite_mol.relax.relax` (the cheap
    fallback for xTB; same treatment of non-converged and failed molecules).
``fcd``
    Fréchet ChemNet Distance (Preuer et al., J. Chem. Inf. Model. 2018) between the molecules' SMILES and
    ``reference_smiles``, through the ``fcd`` package and the ChemNet weights its wheel carries (nothing is
    downloaded). Both sets are canonicalised by RDKit without stereochemistry; molecules that do not
    sanitise are left out of the generated set and counted in ``fcd_invalid``. FCD is biased upwards at
    small sample sizes (two disjoint samples of the same distribution are not at 0): compare sets of equal
    size, ideally thousands of molecules.

Inputs are :class:`unite_mol.Molecule` objects that carry bonds (``Molecule.bonds``, e.g. from a model's bond
head or ``.with_bonds("openbabel")``); bonds are needed by every measure but xTB. Bad input (an empty list,
a molecule without bonds where they are needed, non-finite coordinates, an element xTB has no parameters
for) raises ``ValueError`` naming the molecule and the problem; bad *chemistry or geometry* never raises, it
is what the metrics measure.

The packages are imported inside the functions that use them. Command::

    python -m unite_mol.metrics.drugs calibrate --size 200 --limit 50 --out DIR   # the metrics on the drug-like set
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from unite_mol.metrics import EvalResult, canonical
from unite_mol.metrics.drug_inputs import first_line as _first_line
from unite_mol.metrics.drug_inputs import energy_summary
from unite_mol.metrics.drug_inputs import validated as _validated
from unite_mol.metrics.xtb import XTB_FMAX, XTB_MAX_STEPS, XtbRelaxation, xtb_relax, xtb_relaxation
from unite_mol.molecule import Molecule

__all__ = ["MEASURES", "XtbRelaxation", "calibrate", "drug_metrics", "fcd_score", "mmff_strain", "molecule_smiles",
           "posebusters_checks", "xtb_relax", "xtb_relaxation"]

MEASURES = ("posebusters", "xtb", "mmff")   # per-molecule measures; FCD runs when reference SMILES are given
MMFF_MAX_ITERS = 2000                      # as for the drug-like set's own minimisation
FCD_WEIGHTS = "ChemNet_v0.13_pretrained.pt"


# ------------------------------------------------------------------------------------------- PoseBusters
def _posebusters() -> Any:
    """PoseBusters with the ``"mol"`` config, single-threaded, without the duplicated energy module."""
    from posebusters import PoseBusters

    pb = PoseBusters("mol", max_workers=0)
    modules, seen = [], set()
    for m in pb.config["modules"]:
        if m["function"] == "energy_ratio":
            m = dict(m, parameters=dict(m.get("parameters", {}), num_threads=1))
            if not m.get("chosen_binary_test_output"):
                continue  # the unreported copy; the reported one computes the same
        key = (m["name"], m["function"], json.dumps(m.get("parameters", {}), sort_keys=True))
        if key not in seen:
            seen.add(key)
            modules.append(m)
    pb.config["modules"] = modules
    return pb


def posebusters_checks(molecules: Sequence[Molecule]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """PoseBusters' ``"mol"`` checks per molecule (see the module docstring).

    Returns:
        ``(metrics, records)``: ``metrics`` holds ``posebusters_all`` (every check passed),
        ``posebusters/<check>`` pass rates and ``posebusters_unchecked`` (molecules with a check that could
        not run); ``records`` one dict per molecule with the checks (``True``/``False``/``None`` = not run),
        ``pb_reason`` and ``pb_seconds``.

    Raises:
        ValueError, TypeError: for bad input (see :func:`drug_metrics`).
    """
    from rdkit.rdBase import BlockLogs

    mols = _validated(molecules, need_bonds=True, need_xtb=False)
    pb = _posebusters()
    records: list[dict[str, Any]] = []
    checks: list[str] = []
    pb_logger = logging.getLogger("posebusters")
    level = pb_logger.level
    pb_logger.setLevel(logging.ERROR)  # its per-molecule warnings go into the records instead
    try:
        with BlockLogs():
            for k, mol in enumerate(mols):
                t0 = time.perf_counter()
                rec: dict[str, Any] = {"index": k}
                try:
                    row = pb.bust([mol.to_rdkit(sanitize=False)], full_report=False).iloc[0]
                except (ValueError, RuntimeError, KeyError, AssertionError) as exc:  # a crash inside the package
                    rec.update(pb_ok=False, pb_unchecked=True, pb_reason=f"posebusters failed: {_first_line(exc)}")
                else:
                    if not checks:
                        checks = [str(c) for c in row.index]
                    values = {c: (None if row[c] is None or (isinstance(row[c], float) and np.isnan(row[c]))
                                  else bool(row[c])) for c in row.index}
                    rec.update({f"pb_{c}": v for c, v in values.items()})
                    not_run = [c for c, v in values.items() if v is None]
                    failed = [c for c, v in values.items() if v is False]
                    reason = []
                    if failed:
                        reason.append("failed " + ", ".join(failed))
                    if not_run:
                        why = "the molecule does not sanitise" if values.get("sanitization") is False else "see PoseBusters"
                        reason.append(f"not run ({why}): " + ", ".join(not_run))
                    rec.update(pb_ok=not failed and not not_run, pb_unchecked=bool(not_run), pb_reason="; ".join(reason))
                rec["pb_seconds"] = time.perf_counter() - t0
                records.append(rec)
    finally:
        pb_logger.setLevel(level)
    n = len(records)
    metrics = {"posebusters_all": sum(r["pb_ok"] for r in records) / n,
               "posebusters_unchecked": float(sum(r["pb_unchecked"] for r in records))}
    for c in checks:
        metrics[f"posebusters/{c.replace('-', '_')}"] = sum(r.get(f"pb_{c}") is True for r in records) / n
    return metrics, records


# ------------------------------------------------------------------------------------------------ MMFF
def mmff_strain(molecules: Sequence[Molecule], *, max_iters: int = MMFF_MAX_ITERS) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """MMFF94 strain, E(input) - E(minimised), through :func:`unite_mol.relax.relax`.

    Returns:
        ``(metrics, records)``: ``mmff_strain_median_kcal``, ``mmff_strain_mean_kcal``,
        ``mmff_not_converged``, ``mmff_failed`` (not sanitisable or not typable); per molecule
        ``mmff_strain_kcal``, ``mmff_converged``, ``mmff_reason``, ``mmff_seconds``.

    Raises:
        ValueError, TypeError: for bad input or ``max_iters``.
    """
    from unite_mol.relax import relax

    mols = _validated(molecules, need_bonds=True, need_xtb=False)
    records = []
    for k, mol in enumerate(mols):
        t0 = time.perf_counter()
        p = relax([mol], max_iters=max_iters, force_field="mmff")[0].properties
        records.append({"index": k, "mmff_ran": bool(p["relaxed"]), "mmff_strain_kcal": -float(p["relax_energy_change_kcal"]),
                        "mmff_converged": bool(p["relax_converged"]), "mmff_reason": p["relax_reason"],
                        "mmff_seconds": time.perf_counter() - t0})
    return energy_summary(records, "mmff", "strain"), records


# ------------------------------------------------------------------------------------------------- FCD
def _chemnet() -> Any:
    """The ChemNet model from the weights inside the installed ``fcd`` wheel (never downloaded)."""
    from importlib.resources import files

    import fcd

    path = files("fcd") / FCD_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"the fcd package has no {FCD_WEIGHTS}; reinstall fcd (constraints.txt pins it)")
    return fcd.load_ref_model(str(path))  # cached by fcd


def _canonical_smiles(smiles: Sequence[str], what: str) -> list[str]:
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    out = []
    with BlockLogs():
        for k, s in enumerate(smiles):
            m = Chem.MolFromSmiles(str(s))
            if m is None:
                raise ValueError(f"{what} SMILES {k} ({s!r}) is not a molecule RDKit can parse")
            Chem.RemoveStereochemistry(m)
            out.append(Chem.MolToSmiles(m))
    return out


def fcd_score(generated: Sequence[str], reference: Sequence[str], *, device: str = "cpu", batch_size: int = 128) -> float:
    """Fréchet ChemNet Distance between two sets of SMILES (0 for identical sets).

    Both sets are canonicalised by RDKit without stereochemistry; ChemNet runs on ``device``, its data
    loading in this process (no worker processes).

    Raises:
        ValueError: if a set has fewer than 2 SMILES or a SMILES does not parse.
    """
    import fcd

    for what, s in (("generated", generated), ("reference", reference)):
        if isinstance(s, str) or len(s) < 2:
            raise ValueError(f"FCD needs at least 2 {what} SMILES (a list), got {s!r}"[:200])
    gen, ref = _canonical_smiles(generated, "generated"), _canonical_smiles(reference, "reference")
    model = _chemnet()
    act = [fcd.get_predictions(model, s, batch_size=batch_size, n_jobs=0, device=device).astype(np.float64)
           for s in (gen, ref)]
    return float(fcd.calculate_frechet_distance(act[0].mean(0), np.cov(act[0].T), act[1].mean(0), np.cov(act[1].T)))


def molecule_smiles(mol: Molecule) -> str | None:
    """Canonical SMILES from the molecule's own bonds (largest fragment, no H, no stereo); ``None`` if invalid."""
    from rdkit import Chem

    try:
        rd = mol.to_rdkit(sanitize=True)
    except ValueError:
        return None
    frags = Chem.GetMolFrags(rd, asMols=True, sanitizeFrags=False)
    return canonical(max(frags, key=lambda m: m.GetNumAtoms()))


# ------------------------------------------------------------------------------------------------- all
def drug_metrics(molecules: Iterable[Molecule], *, reference_smiles: Sequence[str] | None = None,
                 measures: Sequence[str] = MEASURES, xtb_max_steps: int = XTB_MAX_STEPS, xtb_fmax: float = XTB_FMAX,
                 mmff_max_iters: int = MMFF_MAX_ITERS, device: str = "cpu") -> EvalResult:
    """All drug metrics of a set of molecules in one flat dict (keys ``drugs/...``).

    Args:
        molecules: :class:`Molecule` objects with bonds (bonds may be missing when only ``"xtb"`` is asked).
        reference_smiles: SMILES of a reference set (e.g. the training set) for FCD; ``None``: no FCD.
        measures: any of ``"posebusters"``, ``"xtb"``, ``"mmff"``.
        xtb_max_steps, xtb_fmax: see :func:`xtb_relax`. mmff_max_iters: see :func:`mmff_strain`.
        device: where ChemNet runs for FCD.

    Returns:
        :class:`unite_mol.metrics.EvalResult`: ``metrics`` with ``drugs/n``; ``drugs/posebusters_all``,
        ``drugs/posebusters/<check>``, ``drugs/posebusters_unchecked``; ``drugs/xtb_relax_median_kcal``,
        ``drugs/xtb_relax_mean_kcal``, ``drugs/xtb_not_converged``, ``drugs/xtb_failed``;
        ``drugs/mmff_strain_median_kcal``, ``drugs/mmff_strain_mean_kcal``, ``drugs/mmff_not_converged``,
        ``drugs/mmff_failed``; ``drugs/fcd``, ``drugs/fcd_invalid`` (rates in [0, 1], counts as floats);
        ``drugs/<measure>_seconds_per_molecule``; ``records`` a DataFrame with one row per molecule.

    Raises:
        ValueError: for an empty set, an unknown measure, a molecule without bonds where bonds are needed,
            non-finite coordinates, an element without xTB parameters, fewer than 2 valid molecules or
            reference SMILES for FCD.
        TypeError: for a single molecule or something that is not one.
    """
    import pandas as pd

    bad = [m for m in measures if m not in MEASURES]
    if bad:
        raise ValueError(f"unknown measures {bad}; choose from {MEASURES}")
    need_bonds = "posebusters" in measures or "mmff" in measures or reference_smiles is not None
    mols = _validated(molecules, need_bonds=need_bonds, need_xtb="xtb" in measures)
    records = pd.DataFrame({"index": np.arange(len(mols)), "num_atoms": [m.num_atoms for m in mols]})
    metrics: dict[str, float] = {"drugs/n": float(len(mols))}
    runs = {"posebusters": lambda: posebusters_checks(mols),
            "xtb": lambda: xtb_relaxation(mols, max_steps=xtb_max_steps, fmax=xtb_fmax),
            "mmff": lambda: mmff_strain(mols, max_iters=mmff_max_iters)}
    for name in MEASURES:
        if name not in measures:
            continue
        t0 = time.perf_counter()
        m, recs = runs[name]()
        metrics.update({f"drugs/{k}": v for k, v in m.items()})
        metrics[f"drugs/{name}_seconds_per_molecule"] = (time.perf_counter() - t0) / len(mols)
        extra = pd.DataFrame(recs).drop(columns="index")
        records = pd.concat([records, extra], axis=1)
    if reference_smiles is not None:
        t0 = time.perf_counter()
        smiles = [molecule_smiles(m) for m in mols]
        records["smiles"] = smiles
        valid = [s for s in smiles if s is not None]
        if len(valid) < 2:
            raise ValueError(f"FCD needs at least 2 molecules that sanitise; {len(valid)} of {len(mols)} do")
        metrics["drugs/fcd"] = fcd_score(valid, reference_smiles, device=device)
        metrics["drugs/fcd_invalid"] = float(len(mols) - len(valid))
        metrics["drugs/fcd_seconds"] = time.perf_counter() - t0
    return EvalResult(metrics, records)


# ------------------------------------------------------------------------------------------ calibration
def calibrate(*, size: int = 200, limit: int = 50, seed: int = 0, xtb_max_steps: int = XTB_MAX_STEPS) -> dict[str, Any]:
    """The drug metrics on the first ``limit`` molecules (by split order: train, valid, test) of the drug-like set.

    FCD compares those molecules' SMILES (from their own bonds) with the MOSES SMILES of the set's other
    molecules, a same-distribution reference: its value is the small-sample floor of FCD at these sizes.

    Raises:
        ValueError: for ``limit < 2``.
    """
    from unite_mol.data import druglike as dl

    if limit < 2:
        raise ValueError(f"limit must be at least 2 (FCD needs two molecules), got {limit}")
    all_mols = [m for name in dl.SPLIT_NAMES for m in dl.druglike(name, size=size, seed=seed, workers=1, progress=False)]
    mols, rest = all_mols[:limit], all_mols[limit:]
    if len(rest) < 2:
        raise ValueError(f"the set has {len(all_mols)} molecules; leave at least 2 for the FCD reference (lower --limit)")
    t0 = time.time()
    result = drug_metrics(mols, reference_smiles=[m.properties["smiles"] for m in rest], xtb_max_steps=xtb_max_steps)
    return {"size": size, "seed": seed, "limit": len(mols), "reference": len(rest), "xtb_max_steps": xtb_max_steps,
            "xtb_fmax_eh_per_bohr": XTB_FMAX, "mmff_max_iters": MMFF_MAX_ITERS, "wall_seconds": time.time() - t0,
            "metrics": result.metrics,
            "records": json.loads(result.records.to_json(orient="records"))}


def _markdown(res: dict[str, Any], info: dict[str, Any]) -> str:
    m = res["metrics"]
    fmt = (lambda v: "nan" if v is None or not np.isfinite(v) else f"{v:.4g}")
    lines = ["# Drug metrics on the drug-like set (calibration)", "",
             f"Command: `{info['command']}`  ",
             f"Date: {info['date']}; commit {info['commit']}; {info['cpu']}, OMP_NUM_THREADS="
             f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; wall-clock {res['wall_seconds']:.0f} s.", "",
             f"Molecules: the first {res['limit']} of the drug-like set (size {res['size']}, seed {res['seed']}; train, "
             f"then valid, then test), each an ETKDGv3 conformer minimised with MMFF94. FCD reference: the MOSES "
             f"SMILES of the set's other {res['reference']} molecules. xTB: GFN2-xTB, L-BFGS, at most "
             f"{res['xtb_max_steps']} steps, fmax {res['xtb_fmax_eh_per_bohr']} Eh/bohr.", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| `{k}` | {fmt(v)} |" for k, v in m.items()]
    recs = res["records"]
    for col, label in (("xtb_relax_kcal", "xTB relaxation energy (kcal/mol)"), ("mmff_strain_kcal", "MMFF strain (kcal/mol)")):
        x = np.array([r[col] for r in recs if r.get(col) is not None], float)
        x = x[np.isfinite(x)]
        if len(x):
            p = np.percentile(x, [0, 5, 50, 95, 100])
            lines += ["", f"{label}: min {p[0]:.3g}, 5 % {p[1]:.3g}, median {p[2]:.3g}, 95 % {p[3]:.3g}, max {p[4]:.3g}."]
    reasons = sorted({r.get("pb_reason", "") for r in recs} - {""})
    if reasons:
        lines += ["", "PoseBusters failures (distinct reasons):", ""] + [f"- {r}" for r in reasons]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.metrics.drugs",
                                description="drug-molecule metrics (PoseBusters, GFN2-xTB, MMFF, FCD)")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("calibrate", help="run the metrics on the drug-like set and write results.json / results.md")
    q.add_argument("--size", type=int, default=200, help="drug-like set size (default 200, cached after one build)")
    q.add_argument("--seed", type=int, default=0, help="drug-like set seed (default 0)")
    q.add_argument("--limit", type=int, default=50, help="molecules to score (default 50; >= 2)")
    q.add_argument("--xtb-max-steps", type=int, default=XTB_MAX_STEPS, help=f"L-BFGS steps (default {XTB_MAX_STEPS})")
    q.add_argument("--out", required=True, help="folder for results.json and results.md")
    args = p.parse_args(argv)
    if args.limit < 2:
        p.error("--limit must be at least 2")
    if args.xtb_max_steps < 1:
        p.error("--xtb-max-steps must be at least 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before tblite / torch load OpenMP; a user's setting wins
    from unite_mol.runtime import machine_info

    info = machine_info()
    res = calibrate(size=args.size, limit=args.limit, seed=args.seed, xtb_max_steps=args.xtb_max_steps)
    res["machine"] = info
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=float) + "\n", encoding="utf-8")
    (out / "results.md").write_text(_markdown(res, info), encoding="utf-8")
    print(out / "results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
