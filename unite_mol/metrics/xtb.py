"""GFN2-xTB relaxation energy of generated molecules (``tblite`` + L-BFGS); see :mod:`unite_mol.metrics.drugs`.

:func:`xtb_relax` relaxes one molecule and reports the energy drop; :func:`xtb_relaxation` scores a set
(median / mean relaxation energy, molecules that did not converge or could not run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from unite_mol.metrics import OVERLAP_A
from unite_mol.metrics.drug_inputs import energy_summary, first_line, validated
from unite_mol.molecule import Molecule

HARTREE_KCAL = 627.5094740631              # kcal/mol per hartree (CODATA 2018)
BOHR_A = 0.529177210903                    # Angstrom per bohr (CODATA 2018)
XTB_METHOD = "GFN2-xTB"
XTB_FMAX = 1e-3                            # Eh/bohr, largest per-atom force at convergence (~0.05 eV/A)
XTB_MAX_STEPS = 500

@dataclass(frozen=True)
class XtbRelaxation:
    """One GFN2-xTB relaxation: energies in hartree, positions in Angstrom, forces in Eh/bohr."""

    energy_initial: float
    energy_final: float
    positions: np.ndarray
    converged: bool
    steps: int
    evaluations: int
    max_force: float
    reason: str

    @property
    def relaxation_kcal(self) -> float:
        """E(input) - E(relaxed) in kcal/mol (>= 0 up to SCC noise)."""
        return (self.energy_initial - self.energy_final) * HARTREE_KCAL


def xtb_relax(mol: Molecule, *, max_steps: int = XTB_MAX_STEPS, fmax: float = XTB_FMAX,
              method: str = XTB_METHOD) -> XtbRelaxation:
    """Relax one molecule with GFN2-xTB (L-BFGS on Cartesian coordinates) and report the energy drop.

    Args:
        mol: the molecule; its formal charges give the total charge (bonds are not used).
        max_steps: most L-BFGS iterations (``>= 1``); at most ``3 * max_steps`` xTB evaluations.
        fmax: convergence threshold on the largest per-atom force, Eh/bohr.
        method: ``"GFN2-xTB"`` (default) or another ``tblite`` method name (``"GFN1-xTB"``).

    Raises:
        ValueError: for bad options.
        tblite.exceptions.TBLiteRuntimeError: when xTB fails on the input geometry (SCC not converged).
    """
    from scipy.optimize import minimize
    from tblite.interface import Calculator

    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if not fmax > 0:
        raise ValueError(f"fmax must be positive (Eh/bohr), got {fmax!r}")
    charge = int(mol.formal_charges.sum())
    uhf = (int(mol.numbers.sum()) - charge) % 2
    x0 = mol.positions.ravel() / BOHR_A
    calc = Calculator(method, mol.numbers, x0.reshape(-1, 3), charge=float(charge), uhf=uhf)
    calc.set("verbosity", 0)
    state: dict[str, Any] = {"res": None, "n": 0}

    def energy_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        calc.update(x.reshape(-1, 3))
        state["res"] = calc.singlepoint(state["res"])  # restart the SCC from the previous wavefunction
        state["n"] += 1
        e = float(state["res"].get("energy"))
        g = np.asarray(state["res"].get("gradient"), dtype=np.float64).ravel()
        if not (np.isfinite(e) and np.isfinite(g).all()):
            raise FloatingPointError(f"xTB returned a non-finite energy or gradient at evaluation {state['n']}")
        return e, g

    e0, g0 = energy_and_gradient(x0)
    # L-BFGS-B's gtol bounds each gradient component; fmax / sqrt(3) bounds each atom's force norm by fmax
    opt = minimize(energy_and_gradient, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": int(max_steps), "maxfun": 3 * int(max_steps), "gtol": fmax / np.sqrt(3),
                            "ftol": 0.0, "maxcor": 20})
    e1 = float(opt.fun)
    force = float(np.linalg.norm(np.asarray(opt.jac).reshape(-1, 3), axis=1).max())
    converged = force <= fmax
    reason = "" if converged else (f"did not converge in {opt.nit} steps (largest force {force:.2e} Eh/bohr; "
                                   f"L-BFGS: {opt.message})")
    return XtbRelaxation(energy_initial=e0, energy_final=e1, positions=np.asarray(opt.x).reshape(-1, 3) * BOHR_A,
                         converged=converged, steps=int(opt.nit), evaluations=int(state["n"]), max_force=force,
                         reason=reason)


def xtb_record(mol: Molecule, *, max_steps: int = XTB_MAX_STEPS, fmax: float = XTB_FMAX,
               method: str = XTB_METHOD) -> tuple[dict[str, Any], XtbRelaxation | None]:
    """One molecule's record for :func:`xtb_relaxation` (``xtb_ran``, ``xtb_relax_kcal``, ``xtb_converged``,
    ``xtb_steps``, ``xtb_max_force``, ``xtb_reason``, ``xtb_seconds``) and its relaxation (None when xTB could not
    run: overlapping atoms, an SCC failure or a non-finite energy)."""
    from tblite.exceptions import TBLiteRuntimeError

    t0 = time.perf_counter()
    rec: dict[str, Any] = {"xtb_relax_kcal": np.nan, "xtb_converged": False, "xtb_steps": 0}
    r = None
    d = mol.distance_matrix() + np.eye(mol.num_atoms) * 1e9
    if d.min() < OVERLAP_A:
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        rec.update(xtb_ran=False, xtb_reason=f"not run: atoms {min(i, j)} and {max(i, j)} overlap ({d[i, j]:.3f} A apart)")
    else:
        try:
            r = xtb_relax(mol, max_steps=max_steps, fmax=fmax, method=method)
        except (TBLiteRuntimeError, FloatingPointError) as exc:
            rec.update(xtb_ran=False, xtb_reason=f"xTB failed: {first_line(exc)}")
        else:
            rec.update(xtb_ran=True, xtb_relax_kcal=r.relaxation_kcal, xtb_converged=r.converged,
                       xtb_steps=r.steps, xtb_max_force=r.max_force, xtb_reason=r.reason)
    rec["xtb_seconds"] = time.perf_counter() - t0
    return rec, r


def xtb_relaxation(molecules: Sequence[Molecule], *, max_steps: int = XTB_MAX_STEPS, fmax: float = XTB_FMAX,
                   method: str = XTB_METHOD) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """GFN2-xTB relaxation energies of a set (see the module docstring and :func:`xtb_relax`).

    Returns:
        ``(metrics, records)``: ``xtb_relax_median_kcal``, ``xtb_relax_mean_kcal``, ``xtb_not_converged``,
        ``xtb_failed``; per molecule ``xtb_relax_kcal``, ``xtb_converged``, ``xtb_steps``, ``xtb_reason``,
        ``xtb_seconds``.

    Raises:
        ValueError, TypeError: for bad input or options.
    """
    mols = validated(molecules, need_bonds=False, need_xtb=True)
    records = []
    for k, mol in enumerate(mols):
        rec, _ = xtb_record(mol, max_steps=max_steps, fmax=fmax, method=method)
        records.append({"index": k, **rec})
    return energy_summary(records, "xtb", "relax"), records
