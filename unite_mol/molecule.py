"""`Molecule`: the one molecule type of unite_mol.

A molecule is atomic numbers, Cartesian positions in Angstrom, optional formal charges, optional bonds
and a free-form ``properties`` mapping (SMILES, QM9 properties, names). It is validated on construction
(unknown elements, NaN/inf coordinates, empty molecules and malformed bonds raise ``ValueError``) and is
immutable in spirit: methods return new molecules. Its arrays are its own (positions are copied, not shared
with the caller's array) and read-only; since numpy lets an owner switch an array back to writable, every
way out (:meth:`Molecule.to_rdkit`, :meth:`Molecule.to_ase`, :meth:`Molecule.smiles`,
:meth:`Molecule.invalid_reason`, :func:`table`, :func:`unite_mol.io.write`, ``unite_mol.evaluate``) checks
the coordinates again with :meth:`Molecule.check_finite` and refuses non-finite ones with a ``ValueError``.

Bonds are an ``(M, 3)`` integer array of ``(i, j, order)`` rows with ``i < j`` and ``order`` one of
``1`` (single), ``2`` (double), ``3`` (triple) or ``4`` (aromatic). ``bonds=None`` means "not known",
which differs from an empty array ("known to have no bonds").

Conversions to and from RDKit and ASE keep atom order, coordinates and formal charges exactly.
RDKit and ASE are imported inside the methods that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from unite_mol import elements

BOND_ORDERS = (1, 2, 3, 4)
AROMATIC = 4


@dataclass(frozen=True, eq=False)
class Molecule:
    """A 3D molecule with explicit atoms.

    Args:
        numbers: atomic numbers, shape ``(N,)``, ``N >= 1``.
        positions: coordinates in Angstrom, shape ``(N, 3)``, all finite.
        charges: formal charges, shape ``(N,)``, or ``None`` (all zero).
        bonds: ``(M, 3)`` integer rows ``(i, j, order)``, or ``None`` when bonds are not known.
        properties: free-form metadata (``"smiles"``, ``"name"``, dataset properties, ...).

    Raises:
        ValueError: on an empty molecule, an unknown element, non-finite coordinates, mismatched shapes,
            or bonds that refer to missing atoms, repeat a pair, bond an atom to itself or have an
            unknown order.
    """

    numbers: np.ndarray
    positions: np.ndarray
    charges: np.ndarray | None = None
    bonds: np.ndarray | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        numbers = np.asarray(self.numbers)
        if numbers.ndim != 1:
            raise ValueError(f"numbers must be a 1-D array of atomic numbers, got shape {numbers.shape}")
        if numbers.size == 0:
            raise ValueError("empty molecule: a Molecule needs at least one atom")
        if numbers.dtype.kind not in "iu":
            if numbers.dtype.kind == "f" and np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
                numbers = numbers.astype(np.int64)
            else:
                raise ValueError(f"numbers must be integer atomic numbers, got dtype {numbers.dtype}")
        numbers = numbers.astype(np.int64)
        bad = (numbers < 1) | (numbers > elements.MAX_Z)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"unknown element: atom {i} has atomic number {numbers[i]} (must be 1..{elements.MAX_Z})")
        n = numbers.size

        positions = np.array(self.positions, dtype=np.float64)  # a copy: the caller's array stays theirs
        if positions.shape != (n, 3):
            raise ValueError(f"positions must have shape ({n}, 3) for {n} atoms, got {positions.shape}")
        finite = np.isfinite(positions).all(axis=1)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"non-finite coordinates (NaN or inf) at atom {i}: {positions[i].tolist()}")

        charges = self.charges
        if charges is not None:
            charges = np.asarray(charges)
            if charges.shape != (n,):
                raise ValueError(f"charges must have shape ({n},), got {charges.shape}")
            if charges.dtype.kind == "f" and not np.all(charges == np.round(charges)):
                raise ValueError("formal charges must be integers")
            charges = charges.astype(np.int64)

        bonds = self.bonds
        if bonds is not None:
            raw = np.asarray(bonds)
            if raw.size == 0:
                raw = np.zeros((0, 3), np.int64)
            if raw.ndim != 2 or raw.shape[1] != 3:
                raise ValueError(f"bonds must be an (M, 3) array of (i, j, order) rows, got shape {raw.shape}")
            if raw.dtype.kind == "f" and not np.all(raw == np.round(raw)):
                raise ValueError("bond indices and orders must be integers (aromatic bonds are order 4, not 1.5)")
            if raw.dtype.kind not in "iuf":
                raise ValueError(f"bonds must be integers, got dtype {raw.dtype}")
            bonds = raw.astype(np.int64)
            i, j, order = bonds[:, 0], bonds[:, 1], bonds[:, 2]
            if ((i < 0) | (i >= n) | (j < 0) | (j >= n)).any():
                raise ValueError(f"bond refers to a missing atom (molecule has {n} atoms): {bonds[(i < 0) | (i >= n) | (j < 0) | (j >= n)][0].tolist()}")
            if (i == j).any():
                raise ValueError(f"bond from an atom to itself: atom {int(i[i == j][0])}")
            if not np.isin(order, BOND_ORDERS).all():
                raise ValueError(f"unknown bond order {int(order[~np.isin(order, BOND_ORDERS)][0])} (allowed: 1, 2, 3, 4=aromatic)")
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            bonds = np.stack([lo, hi, order], axis=1)
            bonds = bonds[np.lexsort((bonds[:, 1], bonds[:, 0]))]
            if len(bonds) > 1 and (np.diff(bonds[:, :2], axis=0) == 0).all(axis=1).any():
                raise ValueError("the same atom pair is bonded twice")

        for arr in (numbers, positions, charges, bonds):  # validated once, so read-only from here on
            if arr is not None:
                arr.flags.writeable = False
        object.__setattr__(self, "numbers", numbers)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "charges", charges)
        object.__setattr__(self, "bonds", bonds)
        object.__setattr__(self, "properties", dict(self.properties))

    # ------------------------------------------------------------------ basic views
    @property
    def num_atoms(self) -> int:
        return int(self.numbers.size)

    def __len__(self) -> int:
        return self.num_atoms

    @property
    def symbols(self) -> list[str]:
        """Element symbols in atom order."""
        return [elements.SYMBOLS[z] for z in self.numbers]

    @property
    def formal_charges(self) -> np.ndarray:
        """Formal charges, zeros when none were given."""
        return self.charges if self.charges is not None else np.zeros(self.num_atoms, np.int64)

    @property
    def formula(self) -> str:
        """Hill formula (C first, H second, then alphabetical)."""
        counts: dict[str, int] = {}
        for s in self.symbols:
            counts[s] = counts.get(s, 0) + 1
        first = [s for s in ("C", "H") if s in counts] if "C" in counts else []
        order = first + sorted(k for k in counts if k not in first)
        return "".join(f"{s}{counts[s] if counts[s] > 1 else ''}" for s in order)

    def __repr__(self) -> str:
        extra = f", {len(self.bonds)} bonds" if self.bonds is not None else ""
        return f"Molecule({self.formula}, {self.num_atoms} atoms{extra})"

    def replace(self, **changes: Any) -> "Molecule":
        """A copy with some fields replaced (validated again)."""
        kw = dict(numbers=self.numbers, positions=self.positions, charges=self.charges, bonds=self.bonds,
                  properties=self.properties)
        kw.update(changes)
        return Molecule(**kw)

    def check_finite(self, name: str = "molecule") -> "Molecule":
        """This molecule, after checking that its coordinates are still finite; ``name`` (e.g.
        ``"molecules[3]"``) starts the error message.

        The constructor refuses NaN and inf, but a caller can switch ``positions`` back to writable and change
        it in place; every way out of a Molecule calls this so such coordinates never leave it.

        Raises:
            ValueError: naming ``name``, the first bad atom and its coordinates.
        """
        finite = np.isfinite(self.positions).all(axis=1)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{name} ({self.formula}, {self.num_atoms} atoms) has non-finite coordinates (NaN or inf) "
                             f"at atom {i}: {self.positions[i].tolist()}; they were changed in place after the "
                             f"Molecule was made (its positions are read-only: build a new Molecule instead)")
        return self

    # ------------------------------------------------------------------ geometry
    def center(self, *, weights: str = "uniform") -> np.ndarray:
        """Centre of the atoms: ``"uniform"`` (mean position, the generative-model convention) or ``"mass"``."""
        if weights == "uniform":
            return self.positions.mean(axis=0)
        if weights == "mass":
            m = np.array([elements.mass(z) for z in self.numbers])
            return (m[:, None] * self.positions).sum(axis=0) / m.sum()
        raise ValueError(f"weights must be 'uniform' or 'mass', got {weights!r}")

    def centered(self, *, weights: str = "uniform") -> "Molecule":
        """A copy translated so that its centre (see :meth:`center`) is the origin."""
        return self.replace(positions=self.positions - self.center(weights=weights))

    def permuted(self, order: np.ndarray) -> "Molecule":
        """A copy with atoms reordered: new atom ``k`` is old atom ``order[k]``; bonds follow."""
        order = np.asarray(order, dtype=np.int64)
        if sorted(order.tolist()) != list(range(self.num_atoms)):
            raise ValueError("order must be a permutation of the atom indices")
        bonds = None
        if self.bonds is not None:
            inverse = np.empty_like(order)
            inverse[order] = np.arange(order.size)
            bonds = np.column_stack([inverse[self.bonds[:, 0]], inverse[self.bonds[:, 1]], self.bonds[:, 2]])
        charges = None if self.charges is None else self.charges[order]
        return self.replace(numbers=self.numbers[order], positions=self.positions[order], charges=charges, bonds=bonds)

    def distance_matrix(self) -> np.ndarray:
        d = self.positions[:, None, :] - self.positions[None, :, :]
        return np.sqrt((d * d).sum(-1))

    # ------------------------------------------------------------------ bonds
    def with_bonds(self, method: str = "edm", **kwargs: Any) -> "Molecule":
        """A copy with bonds perceived from the 3D coordinates.

        ``method`` is ``"edm"`` (EDM distance tables), ``"rdkit"`` (``rdDetermineBonds``) or
        ``"openbabel"``; see :func:`unite_mol.bonds.perceive_bonds`.
        """
        from unite_mol.bonds import perceive_bonds

        return perceive_bonds(self.check_finite(), method=method, **kwargs)

    # ------------------------------------------------------------------ chemistry
    def invalid_reason(self, *, neutral: bool = False) -> str:
        """Why this molecule is not a usable chemical structure, or ``""`` when it is.

        Usable: it has bonds, RDKit sanitises it, it is one connected piece and no atom has a radical
        (an unpaired electron); with ``neutral``, also no atom carries a formal charge (no zwitterions, the
        sense of ``generate(valid_only=True)``). Bond orders and charges are taken as they are (nothing is
        perceived).

        Raises:
            ValueError: if the coordinates were made non-finite in place (:meth:`check_finite`).
        """
        from rdkit import Chem
        from rdkit.rdBase import BlockLogs

        self.check_finite()
        if self.bonds is None:
            return "no bonds (call with_bonds() first)"
        with BlockLogs():
            try:
                mol = self.to_rdkit(sanitize=True)
            except ValueError as exc:
                return f"sanitisation failed: {str(exc).split(': ', 1)[-1].splitlines()[0][:160]}"
            pieces = len(Chem.GetMolFrags(mol))
            radicals = [a.GetIdx() for a in mol.GetAtoms() if a.GetNumRadicalElectrons() > 0]
            charged = [a.GetIdx() for a in mol.GetAtoms() if a.GetFormalCharge() != 0]
        if pieces > 1:
            return f"{pieces} disconnected fragments"
        if radicals:
            return f"radical on atom(s) {', '.join(map(str, radicals[:10]))}"
        if neutral and charged:
            return f"formal charge on atom(s) {', '.join(map(str, charged[:10]))}"
        return ""

    @property
    def smiles(self) -> str | None:
        """Canonical SMILES (hydrogens implicit, no stereo) from the molecule's own bonds and charges.

        ``None`` when the molecule has no bonds (see :meth:`with_bonds`) or RDKit cannot sanitise it.

        Raises:
            ValueError: if the coordinates were made non-finite in place (:meth:`check_finite`).
        """
        from rdkit import Chem
        from rdkit.rdBase import BlockLogs

        self.check_finite()
        if self.bonds is None:
            return None
        with BlockLogs():
            try:
                mol = Chem.RemoveHs(self.to_rdkit(sanitize=True))
            except Exception:  # noqa: BLE001 - RDKit raises several types; the documented answer is None
                return None
            Chem.RemoveStereochemistry(mol)
            return Chem.MolToSmiles(mol)

    # ------------------------------------------------------------------ RDKit
    def to_rdkit(self, *, sanitize: bool = True) -> Any:
        """An ``rdkit.Chem.Mol`` with the same atoms (in order), coordinates, charges and bonds.

        Molecules without bonds (``bonds is None``) give an RDKit molecule with atoms only; call
        :meth:`with_bonds` first to perceive them. Every atom gets ``NoImplicit`` so RDKit adds no hydrogens.

        Raises:
            ValueError: if ``sanitize`` is true and RDKit cannot sanitise the molecule (the RDKit message
                is included), or if the coordinates were made non-finite in place (:meth:`check_finite`).
        """
        from rdkit import Chem
        from rdkit.Geometry import Point3D

        self.check_finite()
        rw = Chem.RWMol()
        for z, q in zip(self.numbers, self.formal_charges):
            atom = Chem.Atom(int(z))
            atom.SetFormalCharge(int(q))
            atom.SetNoImplicit(True)
            rw.AddAtom(atom)
        kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE, 4: Chem.BondType.AROMATIC}
        if self.bonds is not None:
            for i, j, order in self.bonds:
                rw.AddBond(int(i), int(j), kinds[int(order)])
                if order == AROMATIC:
                    rw.GetBondBetweenAtoms(int(i), int(j)).SetIsAromatic(True)
                    rw.GetAtomWithIdx(int(i)).SetIsAromatic(True)
                    rw.GetAtomWithIdx(int(j)).SetIsAromatic(True)
        conf = Chem.Conformer(self.num_atoms)
        for k, (x, y, z) in enumerate(self.positions):
            conf.SetAtomPosition(k, Point3D(float(x), float(y), float(z)))
        conf.Set3D(True)
        rw.AddConformer(conf, assignId=True)
        mol = rw.GetMol()
        if "name" in self.properties:
            mol.SetProp("_Name", str(self.properties["name"]))
        if sanitize:
            try:
                Chem.SanitizeMol(mol)
            except Exception as exc:  # RDKit raises several exception types; keep its message
                raise ValueError(f"RDKit could not sanitise {self!r}: {exc}") from exc
        else:
            mol.UpdatePropertyCache(strict=False)
        return mol

    @classmethod
    def from_rdkit(cls, mol: Any, *, conf_id: int = -1, add_hs: bool = False, kekulize: bool = False) -> "Molecule":
        """A `Molecule` from an ``rdkit.Chem.Mol`` with a 3D conformer.

        Args:
            mol: the RDKit molecule; atom order is kept.
            conf_id: which conformer to take (default: the first).
            add_hs: add missing hydrogens with coordinates (``Chem.AddHs(addCoords=True)``). Without it a
                molecule with implicit hydrogens is an error, since unite_mol works with explicit atoms.
            kekulize: store aromatic bonds as alternating single/double instead of order 4.

        Raises:
            ValueError: if the molecule has no conformer or has implicit hydrogens and ``add_hs`` is false.
        """
        from rdkit import Chem

        if mol is None:
            raise ValueError("from_rdkit got None (RDKit returns None for molecules it could not parse)")
        if mol.GetNumConformers() == 0:
            raise ValueError("the RDKit molecule has no conformer: embed it first (AllChem.EmbedMolecule)")
        implicit = sum(a.GetNumImplicitHs() for a in mol.GetAtoms())
        if implicit:
            if not add_hs:
                raise ValueError(f"the RDKit molecule has {implicit} implicit hydrogens; pass add_hs=True "
                                 "to add them with coordinates, unite_mol needs explicit atoms")
            mol = Chem.AddHs(mol, addCoords=True)
        if kekulize:
            mol = Chem.Mol(mol)
            Chem.Kekulize(mol, clearAromaticFlags=True)
        conf = mol.GetConformer(conf_id)
        numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
        positions = np.array(conf.GetPositions(), dtype=np.float64).reshape(-1, 3)
        charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
        codes = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3, Chem.BondType.AROMATIC: 4}
        rows = []
        for b in mol.GetBonds():
            if b.GetBondType() not in codes:
                raise ValueError(f"unsupported RDKit bond type {b.GetBondType()} between atoms "
                                 f"{b.GetBeginAtomIdx()} and {b.GetEndAtomIdx()}")
            rows.append((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), codes[b.GetBondType()]))
        props: dict[str, Any] = {}
        if mol.HasProp("_Name") and mol.GetProp("_Name"):
            props["name"] = mol.GetProp("_Name")
        for key in mol.GetPropNames():
            props[key] = mol.GetProp(key)
        return cls(numbers, positions, charges, np.array(rows, dtype=np.int64).reshape(-1, 3), props)

    # ------------------------------------------------------------------ ASE
    def to_ase(self) -> Any:
        """An ``ase.Atoms`` with the same atoms, positions and (as initial charges) formal charges.

        Raises:
            ValueError: if the coordinates were made non-finite in place (:meth:`check_finite`).
        """
        from ase import Atoms

        self.check_finite()
        atoms = Atoms(numbers=self.numbers, positions=self.positions)
        if self.charges is not None:
            atoms.set_initial_charges(self.charges.astype(float))
        return atoms

    @classmethod
    def from_ase(cls, atoms: Any) -> "Molecule":
        """A `Molecule` from an ``ase.Atoms``.

        Initial charges that are all integers become formal charges; partial charges are kept as
        ``properties["initial_charges"]`` instead.
        """
        charges = None
        props: dict[str, Any] = {}
        if atoms.has("initial_charges"):
            q = atoms.get_initial_charges()
            if np.any(q != 0):
                if np.all(q == np.round(q)):
                    charges = q
                else:
                    props["initial_charges"] = q.tolist()
        return cls(atoms.get_atomic_numbers(), atoms.get_positions(), charges, properties=props)


DESCRIPTORS = ("MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds", "RingCount")


def table(molecules: Any) -> Any:
    """A pandas DataFrame with one row per molecule: name, SMILES, formula, atoms, validity and its reason,
    and a few RDKit descriptors (:data:`DESCRIPTORS`, empty for invalid molecules).

    ``valid`` / ``reason`` follow :meth:`Molecule.invalid_reason` (bonds as given, one piece, no radicals).

    Raises:
        ValueError: if an item is not a :class:`Molecule` or has non-finite coordinates (naming its index).
    """
    import pandas as pd
    from rdkit import Chem
    from rdkit.Chem import Descriptors
    from rdkit.rdBase import BlockLogs

    rows = []
    for k, m in enumerate(molecules):
        if not isinstance(m, Molecule):
            raise ValueError(f"molecules[{k}] is a {type(m).__name__}, not a unite_mol.Molecule")
        m.check_finite(f"molecules[{k}]")
        reason = m.invalid_reason()
        row: dict[str, Any] = {"name": m.properties.get("name", ""), "smiles": m.smiles, "formula": m.formula,
                               "num_atoms": m.num_atoms, "valid": not reason, "reason": reason}
        if not reason:
            with BlockLogs():
                rd = Chem.RemoveHs(m.to_rdkit(sanitize=True))
                row.update({d: getattr(Descriptors, d)(rd) for d in DESCRIPTORS})
        else:
            row.update({d: None for d in DESCRIPTORS})
        rows.append(row)
    return pd.DataFrame(rows, columns=["name", "smiles", "formula", "num_atoms", "valid", "reason", *DESCRIPTORS])
