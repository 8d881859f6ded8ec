"""Force-field relaxation of molecules that carry bonds: ``relax(molecules)``.

Generated coordinates are often a little off (bond lengths, angles); a short force-field minimisation
fixes that while keeping the chemistry. :func:`relax` builds each molecule in RDKit from its own atoms,
formal charges and bonds (:meth:`Molecule.to_rdkit`, sanitised), minimises it with MMFF94 (or UFF when asked)
and returns new molecules with the same atom order, elements, charges and bonds and the relaxed coordinates.

Every molecule comes back, with what happened recorded in its ``properties``:

``relaxed``
    ``True`` when the coordinates are the force field's minimised ones (see ``relax_converged``);
    ``False`` when the molecule is returned unchanged because it could not be sanitised or typed.
``relax_converged``
    whether the minimiser met its convergence criterion within ``max_iters`` iterations.
``relax_reason``
    ``""`` after a converged relaxation, else why not: ``"RDKit could not sanitise ..."``,
    ``"MMFF cannot type the molecule: ..."``, ``"did not converge in N iterations"``.
``relax_force_field``
    ``"MMFF94"`` or ``"UFF"``.
``relax_energy_change_kcal``
    final minus initial force-field energy (kcal/mol; negative after a relaxation); NaN when not relaxed.
``relax_rmsd_A``
    Kabsch RMSD between input and output coordinates (:func:`unite_mol.geometry.kabsch_rmsd`);
    NaN when not relaxed.

RDKit is imported inside the function.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from unite_mol.molecule import Molecule

FORCE_FIELDS = ("mmff", "uff")
# Elements MMFF94 has atom types for (the organic set plus the ions of its parameter set).
MMFF_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I",
                           "Li", "Na", "K", "Mg", "Ca", "Fe", "Cu", "Zn"})


def relax(molecules: Iterable[Molecule], *, max_iters: int = 200, force_field: str = "mmff") -> list[Molecule]:
    """Relax molecules with a force field, keeping atom order, elements, charges and bonds.

    Args:
        molecules: molecules that carry bonds (``Molecule.bonds`` is not ``None``).
        max_iters: maximum number of minimiser iterations per molecule (``>= 1``).
        force_field: ``"mmff"`` (MMFF94, the default) or ``"uff"``; there is no silent fallback from one
            to the other.

    Returns:
        One new :class:`Molecule` per input, in order, with the ``relax_*`` properties of the module
        docstring. Molecules that cannot be sanitised or typed come back unchanged, ``relaxed=False``,
        with the reason.

    Raises:
        ValueError: for an unknown ``force_field``, ``max_iters < 1``, or a molecule without bonds.
        TypeError: if ``molecules`` is a single :class:`Molecule` or holds something else.
    """
    if force_field not in FORCE_FIELDS:
        raise ValueError(f"unknown force_field {force_field!r}; choose 'mmff' (MMFF94) or 'uff'")
    if int(max_iters) != max_iters or max_iters < 1:
        raise ValueError(f"max_iters must be a positive integer, got {max_iters!r}")
    if isinstance(molecules, Molecule):
        raise TypeError("relax takes a list of molecules; wrap a single one as [molecule]")
    molecules = list(molecules)
    for k, mol in enumerate(molecules):
        if not isinstance(mol, Molecule):
            raise TypeError(f"molecule {k} is a {type(mol).__name__}, not a unite_mol.Molecule")
        if mol.bonds is None:
            raise ValueError(f"molecule {k} ({mol!r}) has bonds=None: relax needs bonds; "
                             "generate with bonds or call .with_bonds(...) first")
    from rdkit.rdBase import BlockLogs

    with BlockLogs():
        return [_relax_one(mol, int(max_iters), force_field) for mol in molecules]


def _relax_one(mol: Molecule, max_iters: int, force_field: str) -> Molecule:
    from rdkit.Chem import AllChem

    from unite_mol.geometry import kabsch_rmsd

    name = "MMFF94" if force_field == "mmff" else "UFF"
    try:
        rd = mol.to_rdkit(sanitize=True)
    except ValueError as exc:
        return _unchanged(mol, name, str(exc).splitlines()[0][:200])
    if force_field == "mmff":
        props = AllChem.MMFFGetMoleculeProperties(rd)
        if props is None:
            return _unchanged(mol, name, f"MMFF cannot type the molecule: {_untypable_detail(mol)}")
        ff = AllChem.MMFFGetMoleculeForceField(rd, props)
    else:
        if not AllChem.UFFHasAllMoleculeParams(rd):
            return _unchanged(mol, name, "UFF cannot type the molecule: UFF has no parameters for an atom "
                                         "in its element, charge or hybridisation state")
        ff = AllChem.UFFGetMoleculeForceField(rd)
    if ff is None:
        return _unchanged(mol, name, f"{name} could not set up a force field for the molecule")
    ff.Initialize()
    e0 = ff.CalcEnergy()
    status = ff.Minimize(maxIts=max_iters)  # 0: converged, 1: more iterations needed
    e1 = ff.CalcEnergy()
    positions = np.asarray(ff.Positions(), dtype=np.float64).reshape(-1, 3)
    assert positions.shape == mol.positions.shape, "the force field changed the atom count"
    converged = status == 0
    props_out = dict(mol.properties, relaxed=True, relax_converged=converged,
                     relax_reason="" if converged else f"did not converge in {max_iters} iterations",
                     relax_force_field=name, relax_energy_change_kcal=float(e1 - e0),
                     relax_rmsd_A=kabsch_rmsd(mol.positions, positions))
    return mol.replace(positions=positions, properties=props_out)


def _unchanged(mol: Molecule, name: str, reason: str) -> Molecule:
    props = dict(mol.properties, relaxed=False, relax_converged=False, relax_reason=reason,
                 relax_force_field=name, relax_energy_change_kcal=float("nan"), relax_rmsd_A=float("nan"))
    return mol.replace(properties=props)


def _untypable_detail(mol: Molecule) -> str:
    missing = sorted({s for s in mol.symbols if s not in MMFF_ELEMENTS})
    if missing:
        atoms = [f"{s}{k}" for k, s in enumerate(mol.symbols) if s in missing][:4]
        return f"MMFF94 has no atom types for {', '.join(missing)} (atoms {', '.join(atoms)}); try force_field='uff'"
    return "no MMFF94 atom type matches an atom's bonding or charge state"

