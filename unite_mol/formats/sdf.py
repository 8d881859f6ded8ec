"""SDF and molfile records, split and checked here (so line numbers are known), parsed and written with
RDKit (see :mod:`unite_mol.io` for what is kept)."""

from __future__ import annotations

import io as _io
import re
from typing import Any, Iterator

import numpy as np

from unite_mol import elements
from unite_mol.formats import Record
from unite_mol.formats.xyz import json_value
from unite_mol.molecule import BOND_ORDERS, Molecule


def _split_sdf(lines: list[str], molfile: bool) -> Iterator[tuple[int, int, list[str], str | None]]:
    """(record index, first line, record lines without ``$$$$``, problem) for each record."""
    rec, start, buf = 0, 1, []
    for ln, line in enumerate(lines, 1):
        if line.strip() == "$$$$":
            rec += 1
            yield rec, start, buf, None
            buf, start = [], ln + 1
        else:
            buf.append(line)
    if any(b.strip() for b in buf):
        rec += 1
        if molfile and rec == 1:
            yield rec, start, buf, None  # a molfile may end at 'M  END' without '$$$$'
        else:
            last = start + len(buf) - 1
            yield rec, start, buf, (f"truncated record: no '$$$$' terminator before the end of the file "
                                    f"(line {last})")


def _check_molblock(block: list[str]) -> tuple[int, str] | None:
    """(1-based line within the record, problem) for a malformed V2000 record, else None.

    RDKit only returns None for a bad record; these checks name the line and the problem.
    """
    if len(block) < 4:
        return len(block) + 1, (f"truncated record: {len(block)} lines, a molfile needs 3 header lines "
                                f"and a counts line")
    counts = block[3]
    if "V3000" in counts:
        return None  # left to RDKit, whose message is then reported
    for k, line in enumerate(block[3:], 4):
        if line.startswith("M  END"):
            break
        if not line.isascii():
            bad = next(c for c in line if not c.isascii())
            return k, f"non-ASCII character {bad!r} in the connection table: {line.strip()[:60]!r}"
    try:
        na, nb = int(counts[0:3]), int(counts[3:6])
    except ValueError:
        return 4, f"malformed counts line {counts.strip()[:40]!r} (expected the atom and bond counts)"
    if na == 0:
        return 4, "empty molecule: the counts line announces 0 atoms"
    body = block[4:]
    if len(body) < na + nb:
        return 5 + len(body), (f"truncated record: the counts line (line 4 of the record) announces {na} atoms "
                               f"and {nb} bonds, only {len(body)} lines follow")
    for k in range(na):
        line, ln = body[k], 5 + k
        if len(line) < 34:
            return ln, f"atom line too short: {line.strip()[:60]!r}"
        try:
            xyz = [float(line[0:10]), float(line[10:20]), float(line[20:30])]
        except ValueError:
            return ln, f"non-numeric coordinates in atom line {line.strip()[:60]!r}"
        if not all(np.isfinite(xyz)):
            return ln, f"non-finite coordinates (NaN or inf) in atom line {line.strip()[:60]!r}"
        try:
            elements.atomic_number(line[31:34].strip())
        except ValueError as exc:
            return ln, str(exc)
    for k in range(nb):
        line, ln = body[na + k], 5 + na + k
        try:
            a, b, order = int(line[0:3]), int(line[3:6]), int(line[6:9])
        except ValueError:
            return ln, f"malformed bond line {line.strip()[:40]!r}"
        if not (1 <= a <= na and 1 <= b <= na):
            return ln, f"bond to a missing atom: {a}-{b}, the molecule has {na} atoms"
        if order not in BOND_ORDERS:
            return ln, f"unsupported bond type {order} (unite_mol reads 1, 2, 3 and 4 = aromatic)"
    for k, line in enumerate(body[na + nb:]):
        ln = 5 + na + nb + k
        if line.startswith("M  END"):
            return None
        if line[:6] in ("M  CHG", "M  ISO", "M  RAD"):
            fields = line[6:].split()
            try:
                values = [int(v) for v in fields]
            except ValueError:
                return ln, f"malformed {line[3:6]} line {line.strip()[:60]!r}"
            if not values or len(values) != 1 + 2 * values[0]:
                return ln, f"malformed {line[3:6]} line {line.strip()[:60]!r}: the entry count does not match"
            bad = [a for a in values[1::2] if not 1 <= a <= na]
            if bad:
                return ln, f"{line[3:6]} line refers to a missing atom {bad[0]}, the molecule has {na} atoms"
    return len(block), "missing 'M  END' (the end of the molfile connection table)"


def _rdkit_reason(messages: str) -> tuple[int | None, str]:
    """(1-based line within the record or None, a one-line reason) from RDKit's captured error log."""
    text = re.sub(r"\[\d\d:\d\d:\d\d\] ", "", messages)
    failed = re.search(r"\*\*\*\*\s*\n(.*?)\n.*?Failed Expression: ([^\n]*)", text, re.S)
    reasons = [ln.strip().removeprefix("ERROR: ") for ln in text.splitlines()
               if ln.strip().startswith("ERROR:") and "moving to the beginning of the next molecule" not in ln]
    if failed:
        reasons.insert(0, f"{failed.group(1).strip()} (failed check: {failed.group(2).strip()})")
    if not reasons:
        return None, "RDKit could not parse the record and gave no reason"
    line = re.search(r"\b[Ll]ine (\d+)\b(?! in file)", text)  # not the C++ source line of an invariant
    return (int(line.group(1)) if line else None), f"RDKit: {reasons[0]}"


def parse_sdf(lines: list[str], molfile: bool) -> Iterator[Record]:
    from rdkit import rdBase

    # RDKit's own reason for a record it rejects; RDKit releases without CaptureErrorLog only stay quiet.
    # BlockLogs keeps its warnings (e.g. "tagged as 2D") off stderr; the error log is captured inside it.
    capture_log = getattr(rdBase, "CaptureErrorLog", rdBase.BlockLogs)
    with rdBase.BlockLogs():
        yield from _parse_sdf_records(lines, molfile, capture_log)


def _parse_sdf_records(lines: list[str], molfile: bool, capture_log: Any) -> Iterator[Record]:
    from rdkit import Chem

    for rec, start, block, problem in _split_sdf(lines, molfile):
        if problem is not None:
            yield rec, start, None, problem
            continue
        bad = _check_molblock(block)
        if bad is not None:
            yield rec, start + bad[0] - 1, None, bad[1]
            continue
        supplier = Chem.SDMolSupplier()
        with capture_log() as capture:  # not printed to stderr
            supplier.SetData("\n".join(block) + "\n$$$$\n", sanitize=False, removeHs=False)
            rd = next(iter(supplier), None)
        if rd is None:
            try:
                messages = getattr(capture, "messages", "")
            except UnicodeDecodeError:  # RDKit cut a multi-byte character in its message
                messages = ""
            rel, reason = _rdkit_reason(messages)
            yield rec, start + (rel - 1 if rel else 0), None, reason
            continue
        rd.UpdatePropertyCache(strict=False)
        implicit = sum(a.GetNumImplicitHs() for a in rd.GetAtoms())
        if implicit:
            yield rec, start, None, (f"{implicit} implicit hydrogens: unite_mol needs every atom written "
                                     f"explicitly with coordinates (e.g. Chem.AddHs(mol, addCoords=True))")
            continue
        try:
            mol = Molecule.from_rdkit(rd)
        except ValueError as exc:
            yield rec, start, None, str(exc)
            continue
        yield rec, start, mol, None


def _sd_value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json_value(value, key)
    lines = text.replace("\r\n", "\n").split("\n")
    if any(ln.strip() == "$$$$" for ln in lines) or (len(lines) > 1 and any(not ln.strip() for ln in lines)):
        raise ValueError(f"SD property {key!r}: a value cannot contain a '$$$$' line, nor a multi-line value "
                         f"a blank line (both end the value in SDF)")
    return text


def sdf_block(mol: Molecule, index: int, bond_method: str | None) -> str:
    """One SDF record; bonds perceived by ``bond_method`` when the molecule has none (``None``: atoms only).
    A record with bonds gets the SD property ``unite_mol_validity``: ``ok`` or why the molecule is not usable."""
    from rdkit import Chem

    from unite_mol.bonds import perceive_bonds

    mol.check_finite(f"molecules[{index}]")
    if mol.bonds is None and bond_method is not None:
        try:
            mol = perceive_bonds(mol, bond_method, charge=int(mol.formal_charges.sum()))
        except ValueError as exc:
            raise ValueError(f"molecules[{index}]: bond perception ({bond_method!r}) failed: {exc}") from exc
    name = str(mol.properties.get("name", ""))
    if "\n" in name or "\r" in name:
        raise ValueError(f"molecules[{index}]: properties['name'] is the SDF title line and cannot hold a line break")
    rd = mol.to_rdkit(sanitize=False)
    if mol.bonds is not None and "unite_mol_validity" not in mol.properties:
        rd.SetProp("unite_mol_validity", mol.invalid_reason() or "ok")
    for key, value in mol.properties.items():
        key = str(key)
        if key == "name":
            continue
        if not key or re.search(r"[<>\n\r]", key):
            raise ValueError(f"molecules[{index}]: SD property name {key!r} must be non-empty, one line, "
                             f"without '<' or '>'")
        try:
            rd.SetProp(key, _sd_value(key, value))
        except ValueError as exc:
            raise ValueError(f"molecules[{index}]: {exc}") from exc
    buf = _io.StringIO()
    writer = Chem.SDWriter(buf)
    writer.SetKekulize(False)  # keep aromatic bonds as order 4
    writer.write(rd)
    writer.close()
    return buf.getvalue()
