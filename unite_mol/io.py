"""Molecule files: ``read(path)`` and ``write(path, molecules)`` for XYZ and SDF, chosen by extension.

Formats (optionally gzip-compressed, ``.gz``):

* XYZ (``.xyz``), single or multi-frame. The comment line carries the molecule's ``properties`` as
  ``key=value`` pairs separated by spaces; values with spaces or quotes are JSON-quoted strings. A
  comment line that is not in that form is kept as ``properties["comment"]``. Coordinates are written
  fixed-point (``%.8f``; RDKit's XYZ reader rejects exponents).
* SDF (``.sdf``, ``.sd``, ``.mol``), many records, through RDKit, keeping atom order, coordinates (4
  decimals, the format's precision), formal charges, bonds and SD properties. A molecule without bonds
  gets them perceived from its 3D coordinates (``bond_method``) before it is written.

Reading is strict by default: the first bad record raises a ``ValueError`` naming the file, the record
(1-based), its line and the problem. With ``strict=False`` the good molecules come back as a
:class:`ReadResult` (a list) whose ``.errors`` lists every bad record, and a warning says how many were
skipped; nothing is dropped silently. Files are written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import gzip
import io as _io
import json
import os
import re
import shlex
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from unite_mol import elements
from unite_mol.molecule import Molecule

FORMATS = {".xyz": "xyz", ".sdf": "sdf", ".sd": "sdf", ".mol": "sdf"}


@dataclass(frozen=True)
class RecordError:
    record: int      # 1-based record index in the file
    line: int        # 1-based line where the record starts (or the bad line)
    message: str

    def __str__(self) -> str:
        return f"record {self.record} (line {self.line}): {self.message}"


class ReadResult(list):
    """The molecules read, plus ``errors``: the records that could not be read (lenient mode)."""

    def __init__(self, molecules: Iterable[Molecule] = (), errors: Iterable[RecordError] = ()):
        super().__init__(molecules)
        self.errors: list[RecordError] = list(errors)


def detect_format(path: str | Path, format: str | None = None) -> tuple[str, bool]:
    """(format, gzipped) from an explicit ``format`` or the extension.

    Raises:
        ValueError: for an unknown format or extension.
    """
    p = Path(path)
    gz = p.suffix.lower() == ".gz"
    if format is not None:
        if format not in ("xyz", "sdf"):
            raise ValueError(f"unknown format {format!r}; supported: 'xyz', 'sdf'")
        return format, gz
    ext = (p.with_suffix("").suffix if gz else p.suffix).lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot tell the format of {p.name!r} from its extension; supported: "
                         f"{', '.join(sorted(FORMATS))} (optionally .gz), or pass format='xyz'/'sdf'")
    return FORMATS[ext], gz


def _read_text(path: Path, gz: bool) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    data = path.read_bytes()
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a valid gzip file: {exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from exc


def read(path: str | Path, *, format: str | None = None, strict: bool = True) -> ReadResult:
    """Read every molecule of an XYZ or SDF file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for an unknown format, an empty file, or (``strict``) the first bad record, naming
            the file, record, line and problem.
    """
    path = Path(path)
    fmt, gz = detect_format(path, format)
    text = _read_text(path, gz)
    if not text.strip():
        raise ValueError(f"{path}: no records (the file is empty)")
    parse = _parse_xyz if fmt == "xyz" else _parse_sdf
    result = ReadResult()
    for rec_no, line_no, mol, err in parse(text):
        if err is None:
            result.append(mol)
            continue
        error = RecordError(rec_no, line_no, err)
        if strict:
            raise ValueError(f"{path}: {error}")
        result.errors.append(error)
    if not result and not result.errors:
        raise ValueError(f"{path}: no records")
    if result.errors:
        warnings.warn(f"{path}: skipped {len(result.errors)} bad record(s) of {len(result) + len(result.errors)}; "
                      f"see the result's .errors", stacklevel=2)
    return result


# --------------------------------------------------------------------------------------------- XYZ
def _format_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))
    s = str(v)
    return s if s and re.fullmatch(r"[^\s\"'=]+", s) and not _looks_numeric(s) else json.dumps(s)


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return s in ("true", "false", "null")


def _comment(props: dict[str, Any]) -> str:
    parts = []
    for k, v in props.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", str(k)):
            continue  # keys that cannot round-trip are left out of the comment line
        parts.append(f"{k}={_format_value(v)}")
    return " ".join(parts)


def _parse_comment(line: str) -> dict[str, Any]:
    line = line.strip()
    if not line:
        return {}
    try:
        tokens = shlex.split(line, posix=False)
    except ValueError:
        return {"comment": line}
    props: dict[str, Any] = {}
    for tok in tokens:
        if "=" not in tok:
            return {"comment": line}
        k, v = tok.split("=", 1)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", k):
            return {"comment": line}
        try:
            props[k] = json.loads(v)
        except json.JSONDecodeError:
            props[k] = v
    return props


def _parse_xyz(text: str):
    lines = text.splitlines()
    i = 0
    rec = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        rec += 1
        start = i + 1
        head = lines[i].strip()
        try:
            n = int(head)
            if n < 0:
                raise ValueError
        except ValueError:
            yield rec, start, None, f"expected an atom count, got {head[:40]!r}"
            # skip to the next line that is a plain integer
            i += 1
            while i < len(lines) and not re.fullmatch(r"\s*\d+\s*", lines[i]):
                i += 1
            continue
        if n == 0:
            yield rec, start, None, "empty molecule (atom count 0)"
            i += 2
            continue
        atom_lines = lines[i + 2: i + 2 + n]
        comment = lines[i + 1] if i + 1 < len(lines) else ""
        if len(atom_lines) < n:
            yield rec, start, None, f"truncated: {n} atoms announced, {len(atom_lines)} atom lines found"
            return
        numbers, positions, err = [], [], None
        for k, al in enumerate(atom_lines):
            parts = al.split()
            ln = i + 3 + k
            if len(parts) < 4:
                err = f"line {ln}: expected 'symbol x y z', got {al.strip()[:60]!r}"
                break
            sym = parts[0]
            try:
                z = int(sym) if sym.isdigit() else elements.atomic_number(sym)
                if not 1 <= z <= elements.MAX_Z:
                    raise ValueError(f"unknown element: atomic number {z}")
            except ValueError as exc:
                err = f"line {ln}: {exc}"
                break
            try:
                xyz = [float(v) for v in parts[1:4]]
            except ValueError:
                err = f"line {ln}: non-numeric coordinates {parts[1:4]}"
                break
            if not all(np.isfinite(xyz)):
                err = f"line {ln}: non-finite coordinates (NaN or inf) {parts[1:4]}"
                break
            numbers.append(z)
            positions.append(xyz)
        i += 2 + n
        if err:
            yield rec, start, None, err
            continue
        try:
            mol = Molecule(np.array(numbers), np.array(positions), properties=_parse_comment(comment))
        except ValueError as exc:
            yield rec, start, None, str(exc)
            continue
        yield rec, start, mol, None


def _xyz_block(mol: Molecule) -> str:
    out = [str(mol.num_atoms), _comment(dict(mol.properties))]
    for s, (x, y, z) in zip(mol.symbols, mol.positions):
        out.append(f"{s:<2} {x:15.8f} {y:15.8f} {z:15.8f}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- SDF
def _split_sdf(text: str):
    """(record number, first line number, record text) for each ``$$$$``-terminated record."""
    lines = text.splitlines()
    rec, start, buf = 0, 1, []
    for ln, line in enumerate(lines, 1):
        buf.append(line)
        if line.strip() == "$$$$":
            rec += 1
            yield rec, start, "\n".join(buf) + "\n", True
            buf, start = [], ln + 1
    if any(b.strip() for b in buf):
        yield rec + 1, start, "\n".join(buf) + "\n", False


def _check_molblock(block: str) -> str | None:
    """A reason when the V2000 molblock is malformed (RDKit says only 'None')."""
    lines = block.splitlines()
    if len(lines) < 4:
        return f"truncated record: {len(lines)} lines, a molfile needs a header and a counts line"
    counts = lines[3]
    if "V3000" in counts:
        return None
    try:
        na, nb = int(counts[0:3]), int(counts[3:6])
    except ValueError:
        return f"line 4: malformed counts line {counts[:40]!r}"
    body = lines[4:]
    if len(body) < na + nb:
        return f"truncated record: counts line announces {na} atoms and {nb} bonds, only {len(body)} lines follow"
    for k in range(na):
        al = body[k]
        try:
            xyz = [float(al[0:10]), float(al[10:20]), float(al[20:30])]
        except ValueError:
            return f"line {5 + k}: non-numeric coordinates in atom line {al.strip()[:50]!r}"
        if not all(np.isfinite(xyz)):
            return f"line {5 + k}: non-finite coordinates (NaN or inf)"
        sym = al[31:34].strip()
        try:
            elements.atomic_number(sym)
        except ValueError:
            return f"line {5 + k}: unknown element {sym!r}"
    for k in range(nb):
        bl = body[na + k]
        try:
            a, b = int(bl[0:3]), int(bl[3:6])
        except ValueError:
            return f"line {5 + na + k}: malformed bond line {bl.strip()[:40]!r}"
        if not (1 <= a <= na and 1 <= b <= na):
            return f"line {5 + na + k}: bond to a missing atom ({a}-{b}, molecule has {na} atoms)"
    if na == 0:
        return "empty molecule (0 atoms)"
    if "M  END" not in block:
        return "missing 'M  END'"
    return None


def _parse_sdf(text: str):
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        for rec, start, block, terminated in _split_sdf(text):
            if not terminated:
                yield rec, start, None, "truncated record: missing the '$$$$' terminator"
                continue
            reason = _check_molblock(block)
            if reason:
                m = re.match(r"line (\d+): (.*)", reason)
                yield (rec, start + int(m.group(1)) - 1, None, m.group(2)) if m else (rec, start, None, reason)
                continue
            supplier = Chem.SDMolSupplier()
            supplier.SetData(block, sanitize=False, removeHs=False)
            rd = next(iter(supplier), None)
            if rd is None:
                yield rec, start, None, "RDKit could not parse the record"
                continue
            try:
                rd.UpdatePropertyCache(strict=False)
                mol = Molecule.from_rdkit(rd)
            except ValueError as exc:
                yield rec, start, None, str(exc)
                continue
            yield rec, start, mol, None
    finally:
        RDLogger.EnableLog("rdApp.*")


def _sdf_block(mol: Molecule, bond_method: str) -> str:
    from rdkit import Chem

    if mol.bonds is None:
        mol = mol.with_bonds(bond_method)
    rd = mol.to_rdkit(sanitize=False)
    for k, v in mol.properties.items():
        if k == "name":
            continue
        rd.SetProp(str(k), v if isinstance(v, str) else json.dumps(v) if not isinstance(v, (int, float)) else repr(v))
    buf = _io.StringIO()
    w = Chem.SDWriter(buf)
    w.SetKekulize(False)
    w.write(rd)
    w.close()
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- write
def write(path: str | Path, molecules: Molecule | Iterable[Molecule], *, format: str | None = None,
          bond_method: str = "edm") -> Path:
    """Write molecules to an XYZ or SDF file atomically; returns the path.

    Raises:
        ValueError: for an unknown format, no molecules, or an item that is not a Molecule.
    """
    path = Path(path)
    fmt, gz = detect_format(path, format)
    mols = [molecules] if isinstance(molecules, Molecule) else list(molecules)
    if not mols:
        raise ValueError(f"nothing to write to {path}: no molecules")
    for k, m in enumerate(mols):
        if not isinstance(m, Molecule):
            raise ValueError(f"item {k} is a {type(m).__name__}, not a unite_mol.Molecule")
    text = "".join(_xyz_block(m) if fmt == "xyz" else _sdf_block(m, bond_method) for m in mols)
    data = text.encode()
    if gz:
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
