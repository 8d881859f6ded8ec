"""Input checks shared by the drug metrics (:mod:`unite_mol.metrics.drugs`, :mod:`unite_mol.metrics.xtb`)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from unite_mol.metrics import as_molecule
from unite_mol.molecule import Molecule

XTB_MAX_Z = 86                             # GFN2-xTB is parametrised for H..Rn

def validated(molecules: Iterable[Any], *, need_bonds: bool, need_xtb: bool) -> list[Molecule]:
    """Molecules checked for what the measures need, or ``ValueError`` / ``TypeError`` naming the problem."""
    if isinstance(molecules, Molecule):
        raise TypeError("drug metrics take a list of molecules; wrap a single one as [molecule]")
    out = []
    for k, item in enumerate(molecules):
        if not isinstance(item, (Molecule, tuple, list)):
            raise TypeError(f"molecule {k} is a {type(item).__name__}, not a unite_mol.Molecule")
        mol, reason = as_molecule(item)
        if mol is None:
            raise ValueError(f"molecule {k}: {reason}")
        if not np.isfinite(mol.positions).all():  # Molecule refuses them; kept for arrays changed behind its back
            raise ValueError(f"molecule {k} ({mol!r}) has non-finite coordinates (NaN or inf)")
        if need_bonds and mol.bonds is None:
            raise ValueError(f"molecule {k} ({mol!r}) has bonds=None: PoseBusters, MMFF strain and FCD need bonds; "
                             "generate with bonds or call .with_bonds('openbabel') first")
        if need_xtb and int(mol.numbers.max()) > XTB_MAX_Z:
            a = int(np.argmax(mol.numbers))
            raise ValueError(f"molecule {k}: atom {a} ({mol.symbols[a]}) has no GFN2-xTB parameters (H..Rn only)")
        out.append(mol)
    if not out:
        raise ValueError("no molecules to score")
    return out


def first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:limit] if text else ''}"


def energy_summary(records: list[dict[str, Any]], prefix: str, quantity: str) -> dict[str, float]:
    """Median and mean of the records' ``{prefix}_{quantity}_kcal`` over the molecules that ran, and the counts
    of those that did not converge and did not run (``{prefix}_ran`` / ``{prefix}_converged`` per record)."""
    ran = np.array([r[f"{prefix}_{quantity}_kcal"] for r in records if r[f"{prefix}_ran"]])
    return {f"{prefix}_{quantity}_median_kcal": float(np.median(ran)) if len(ran) else float("nan"),
            f"{prefix}_{quantity}_mean_kcal": float(ran.mean()) if len(ran) else float("nan"),
            f"{prefix}_not_converged": float(sum(r[f"{prefix}_ran"] and not r[f"{prefix}_converged"] for r in records)),
            f"{prefix}_failed": float(sum(not r[f"{prefix}_ran"] for r in records))}
