"""Molecule files: ``read(path)`` and ``write(path, molecules)`` for XYZ and SDF, chosen by extension.

Formats (each optionally gzip-compressed, ``.gz``):

* **XYZ** (``.xyz``), one or many frames. Elements and coordinates; no bonds or charges. Coordinates are
  written fixed-point (``%.8f``; RDKit's XYZ reader rejects exponents such as ``1e-05``). The comment
  line carries the molecule's ``properties`` as space-separated ``key=value`` pairs::

      name=gdb_1 smiles=C gdb_index=1 HOMO_au=-0.3877 note="two words" tags=["a","b"] ok=true

  A key is a bare word (letters, digits, ``_ . : -``, not starting with a digit) or a JSON string. A
  value is JSON (number, ``true``/``false``/``null``, ``"string"``, ``[list]``, ``{object}``) or a bare
  word without spaces or quotes, which is read as a string. ``write`` puts strings bare when that reads
  back unchanged and JSON-quotes them otherwise, so every JSON-representable property round-trips
  (tuples come back as lists, numpy scalars and arrays as Python numbers and lists). A comment line
  that is not in this form is kept (stripped) as ``properties["comment"]``; an empty one gives ``{}``.
* **SDF** (``.sdf``, ``.sd``), many ``$$$$``-terminated records, and **molfile** (``.mol``), one record
  whose ``$$$$`` may be missing. Written and parsed with RDKit (no sanitisation, hydrogens kept),
  keeping atom order, coordinates (4 decimals, the format's precision), formal charges (``M  CHG``),
  bonds (1, 2, 3, 4 = aromatic) and SD properties; ``properties["name"]`` is the record's title line.
  SD properties are text: they are read back as strings (non-string values are written as JSON). A
  molecule without bonds (``bonds is None``) gets them perceived from its 3D coordinates with
  :func:`unite_mol.bonds.perceive_bonds` (``bond_method``) before it is written.

Reading is strict by default: the first bad record raises a ``ValueError`` naming the file, the record
(1-based), the line (1-based, the offending line where one can be named, else the record's first line)
and the problem. With ``strict=False`` the good molecules come back as a :class:`ReadResult` (a list)
whose ``.errors`` holds a :class:`RecordError` for every bad record, and a ``UserWarning`` says how many
were skipped; nothing is dropped silently. SDF records are split here (so line numbers are known) and
checked line by line before RDKit parses them; when RDKit still rejects one, its own message (captured
with ``rdBase.CaptureErrorLog``, nothing printed) is the reason given; RDKit's warnings are blocked, so
reading prints nothing to stderr.

Files are written atomically: each molecule is formatted and written, as it comes, to a temporary file
in the same directory, which is flushed to disk and moved over the target with ``os.replace`` once all
were written, so a crash or an error never leaves a half-written file and a long stream of molecules
(``write(path, generator)``) needs memory for one molecule at a time.
"""

from __future__ import annotations

import gzip
import io as _io
import json
import re
import warnings
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from unite_mol import elements
from unite_mol.files import atomic_open
from unite_mol.molecule import BOND_ORDERS, Molecule

FORMATS: dict[str, str] = {".xyz": "xyz", ".sdf": "sdf", ".sd": "sdf", ".mol": "mol"}
SUPPORTED = ".xyz, .sdf, .sd, .mol (each optionally with .gz)"


@dataclass(frozen=True)
class RecordError:
    """A record that could not be read: its 1-based index, a 1-based line number and the problem."""

    record: int
    line: int
    message: str

    def __str__(self) -> str:
        return f"record {self.record}, line {self.line}: {self.message}"


class ReadResult(list):
    """The molecules read (a ``list``), plus ``errors``: a :class:`RecordError` per skipped record."""

    def __init__(self, molecules: Iterable[Molecule] = (), errors: Iterable[RecordError] = ()):
        super().__init__(molecules)
        self.errors: list[RecordError] = list(errors)


# One parsed record: (record index, line, molecule or None, problem or None).
_Record = tuple[int, int, "Molecule | None", "str | None"]


def detect_format(path: str | Path, format: str | None = None) -> tuple[str, bool]:
    """``(format, gzipped)`` of a path; ``format`` is ``"xyz"``, ``"sdf"`` or ``"mol"``.

    An explicit ``format`` wins over the extension; ``gzipped`` always follows a final ``.gz``.

    Raises:
        ValueError: for an unknown ``format`` or an extension that names no supported format.
    """
    p = Path(path)
    gz = p.suffix.lower() == ".gz"
    if format is not None:
        if format not in ("xyz", "sdf", "mol"):
            raise ValueError(f"unknown format {format!r}; supported: 'xyz', 'sdf', 'mol'")
        return format, gz
    ext = (p.with_suffix("").suffix if gz else p.suffix).lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot tell the format of {p.name!r} from its extension {ext or '(none)'!r}; "
                         f"supported: {SUPPORTED}, or pass format='xyz', 'sdf' or 'mol'")
    return FORMATS[ext], gz


# --------------------------------------------------------------------------------------------- read
def read(path: str | Path, *, format: str | None = None, strict: bool = True) -> ReadResult:
    """Read every molecule of an XYZ, SDF or molfile, in file order.

    Args:
        path: the file; ``.xyz``, ``.sdf``, ``.sd``, ``.mol``, optionally followed by ``.gz``.
        format: ``"xyz"``, ``"sdf"`` or ``"mol"`` to override the extension.
        strict: raise on the first bad record (default); when false, skip bad records, list them in
            the result's ``.errors`` and warn how many were skipped.

    Returns:
        A :class:`ReadResult`: a list of :class:`Molecule` with an ``.errors`` list (empty when strict).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file, for an unknown format, a directory or unreadable file, a file that is
            not valid gzip or UTF-8, a file with no records, or (``strict``) the first bad record, naming
            also the record, line and problem. Nothing else escapes for any file content (fuzz-tested).
    """
    path = Path(path)
    fmt, gz = detect_format(path, format)
    lines = _read_lines(path, gz)
    if not any(line.strip() for line in lines):
        raise ValueError(f"{path}: no records (the file is empty)")
    records = _parse_xyz(lines) if fmt == "xyz" else _parse_sdf(lines, molfile=fmt == "mol")
    result = ReadResult()
    with closing(records):  # a strict error closes the parser at once (it holds RDKit's log block)
        for rec, line, mol, problem in records:
            if problem is None:
                result.append(mol)
                continue
            error = RecordError(rec, line, problem)
            if strict:
                raise ValueError(f"{path}: {error}")
            result.errors.append(error)
    if result.errors:
        warnings.warn(f"{path}: skipped {len(result.errors)} bad record(s) of {len(result) + len(result.errors)} "
                      f"(first: {result.errors[0]}); see the result's .errors", UserWarning, stacklevel=2)
    elif not result:
        raise ValueError(f"{path}: no records")
    return result


def _read_lines(path: Path, gz: bool) -> list[str]:
    """The file's lines, split on ``\\n`` only (``\\r\\n`` accepted), so line numbers match editors."""
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a molecule file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: not a valid gzip file: {exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {exc.start} is not UTF-8)") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --------------------------------------------------------------------------------------------- XYZ
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*")
_BARE_VALUE = re.compile(r"[^\s\"'=\[\]{},]+")
_NOT_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_DECODER = json.JSONDecoder()
_WORD = re.compile(r"\S*")


def _json(value: Any, key: str) -> str:
    """Compact one-line JSON of ``value`` (numpy scalars and arrays become Python values)."""
    def plain(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        raise ValueError(f"property {key!r} has a value of type {type(v).__name__}, which an XYZ comment "
                         f"line cannot hold; use str, numbers, bools, None, lists or dicts")

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=plain)
    return text.translate(_NOT_LINE_BREAKS)  # keep the comment on one line for every line splitter


def _json_prefix(s: str, pos: int) -> tuple[Any, int] | None:
    """A JSON value starting at ``pos`` that ends at whitespace or the end of ``s``, or None."""
    try:
        value, end = _DECODER.raw_decode(s, pos)
    except (json.JSONDecodeError, RecursionError):  # too deeply nested for json: read as a bare word
        return None
    return (value, end) if end == len(s) or s[end].isspace() else None


def _format_comment(props: dict[str, Any]) -> str:
    parts = []
    for key, value in props.items():
        key = str(key)
        k = key if _BARE_KEY.fullmatch(key) else _json(key, key)
        if isinstance(value, str) and _BARE_VALUE.fullmatch(value) and _json_prefix(value, 0) is None:
            v = value  # a bare word that reads back as this same string
        else:
            v = _json(value, key)
        parts.append(f"{k}={v}")
    return " ".join(parts)


def _parse_comment(line: str) -> dict[str, Any]:
    s = line.strip()
    props: dict[str, Any] = {}
    pos = 0
    while pos < len(s):
        if s[pos] == '"':
            try:
                key, key_end = _DECODER.raw_decode(s, pos)
            except json.JSONDecodeError:
                return {"comment": s}
        else:
            m = _BARE_KEY.match(s, pos)
            if m is None:
                return {"comment": s}
            key, key_end = m.group(), m.end()
        if key_end >= len(s) or s[key_end] != "=":
            return {"comment": s}
        pos = key_end + 1
        got = _json_prefix(s, pos)
        if got is not None:
            value, pos = got
        else:
            m = _WORD.match(s, pos)
            value, pos = m.group(), m.end()
            if '"' in value:
                return {"comment": s}  # a broken JSON string, not a bare word
        props[key] = value
        while pos < len(s) and s[pos].isspace():
            pos += 1
    return props


_MAX_COUNT_DIGITS = 9  # an atom count longer than this is refused before int() (Python caps it at 4300 digits)


def _is_count(line: str) -> bool:
    return re.fullmatch(r"\s*\d+\s*", line) is not None


def _looks_like_atom(line: str) -> bool:
    parts = line.split()
    if len(parts) < 4:
        return False
    try:
        [float(v) for v in parts[1:4]]
    except ValueError:
        return False
    return True


def _parse_xyz(lines: list[str]) -> Iterator[_Record]:
    i, rec = 0, 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        rec += 1
        start = i + 1  # 1-based line of the atom count
        head = lines[i].strip()
        if not _is_count(head):
            yield rec, start, None, f"expected the atom count of a frame, got {head[:40]!r}"
            i += 1
            while i < len(lines) and not _is_count(lines[i]):
                i += 1  # resynchronise on the next plain integer line
            continue
        if len(head) > _MAX_COUNT_DIGITS:
            yield rec, start, None, f"atom count with {len(head)} digits ({head[:12]}...): not a plausible molecule"
            i += 1
            while i < len(lines) and not _is_count(lines[i]):
                i += 1
            continue
        n = int(head)
        if n == 0:
            yield rec, start, None, "empty molecule: the atom count is 0"
            i += 2
            continue
        if i + 1 >= len(lines):
            yield rec, start, None, (f"truncated frame: line {start} announces {n} atoms, the file ends before "
                                     f"the comment line")
            return
        comment = lines[i + 1]
        numbers, positions, problem = [], [], None
        for k in range(n):
            ln = i + 3 + k  # 1-based line of atom k
            if ln > len(lines):  # reported on the file's last line
                problem = (len(lines), f"truncated frame: line {start} announces {n} atoms, the file ends after "
                                       f"{k} atom lines")
                break
            line = lines[ln - 1]
            parts = line.split()
            if _is_count(line) or not line.strip():
                problem = (ln, f"wrong atom count: line {start} announces {n} atoms, but the frame has only "
                               f"{k} atom lines")
                break
            if len(parts) < 4:
                problem = (ln, f"expected 'symbol x y z', got {line.strip()[:60]!r}")
                break
            sym = parts[0]
            try:
                z = int(sym) if sym.isdigit() else elements.atomic_number(sym)
                elements.symbol(z)
            except ValueError as exc:
                problem = (ln, str(exc))
                break
            try:
                xyz = [float(v) for v in parts[1:4]]
            except ValueError:
                problem = (ln, f"non-numeric coordinates {' '.join(parts[1:4])!r}")
                break
            if not all(np.isfinite(xyz)):
                problem = (ln, f"non-finite coordinates (NaN or inf) {' '.join(parts[1:4])!r}")
                break
            numbers.append(z)
            positions.append(xyz)
        if problem is not None:
            yield rec, problem[0], None, problem[1]
            i = problem[0] - 1
            while i < len(lines) and not _is_count(lines[i]):
                i += 1
            continue
        i += 2 + n
        if i < len(lines) and _looks_like_atom(lines[i]):
            yield rec, i + 1, None, f"wrong atom count: line {start} announces {n} atoms, but more atom lines follow"
            while i < len(lines) and not _is_count(lines[i]):
                i += 1
            continue
        try:
            mol = Molecule(np.array(numbers), np.array(positions, dtype=np.float64),
                           properties=_parse_comment(comment))
        except ValueError as exc:
            yield rec, start, None, str(exc)
            continue
        yield rec, start, mol, None


def _xyz_block(mol: Molecule) -> str:
    out = [str(mol.num_atoms), _format_comment(dict(mol.properties))]
    for s, (x, y, z) in zip(mol.symbols, mol.positions):
        out.append(f"{s:<2} {x:15.8f} {y:15.8f} {z:15.8f}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- SDF
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


def _parse_sdf(lines: list[str], molfile: bool) -> Iterator[_Record]:
    from rdkit import rdBase

    # RDKit's own reason for a record it rejects; RDKit releases without CaptureErrorLog only stay quiet.
    # BlockLogs keeps its warnings (e.g. "tagged as 2D") off stderr; the error log is captured inside it.
    capture_log = getattr(rdBase, "CaptureErrorLog", rdBase.BlockLogs)
    with rdBase.BlockLogs():
        yield from _parse_sdf_records(lines, molfile, capture_log)


def _parse_sdf_records(lines: list[str], molfile: bool, capture_log: Any) -> Iterator[_Record]:
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
    text = value if isinstance(value, str) else _json(value, key)
    lines = text.replace("\r\n", "\n").split("\n")
    if any(ln.strip() == "$$$$" for ln in lines) or (len(lines) > 1 and any(not ln.strip() for ln in lines)):
        raise ValueError(f"SD property {key!r}: a value cannot contain a '$$$$' line, nor a multi-line value "
                         f"a blank line (both end the value in SDF)")
    return text


def _sdf_block(mol: Molecule, index: int, bond_method: str) -> str:
    from rdkit import Chem

    from unite_mol.bonds import perceive_bonds

    if mol.bonds is None:
        try:
            mol = perceive_bonds(mol, bond_method, charge=int(mol.formal_charges.sum()))
        except ValueError as exc:
            raise ValueError(f"molecules[{index}]: bond perception ({bond_method!r}) failed: {exc}") from exc
    name = str(mol.properties.get("name", ""))
    if "\n" in name or "\r" in name:
        raise ValueError(f"molecules[{index}]: properties['name'] is the SDF title line and cannot hold a line break")
    rd = mol.to_rdkit(sanitize=False)
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


# --------------------------------------------------------------------------------------------- write
def write(path: str | Path, molecules: Molecule | Iterable[Molecule], *, format: str | None = None,
          bond_method: str = "edm") -> Path:
    """Write molecules to an XYZ, SDF or molfile, atomically; returns the path.

    ``molecules`` is consumed lazily: each molecule is formatted and written to a temporary file beside
    ``path`` as it comes (so a generator of millions of molecules needs memory for one at a time), and the
    temporary file is moved over ``path`` only when all were written.

    Args:
        path: the target; the format follows the extension (see :func:`detect_format`), ``.gz`` compresses.
            Missing parent directories are created.
        molecules: one :class:`Molecule` or an iterable of them (a ``.mol`` file takes exactly one).
        format: ``"xyz"``, ``"sdf"`` or ``"mol"`` to override the extension.
        bond_method: how SDF/molfile output perceives bonds for molecules with ``bonds is None``:
            ``"edm"``, ``"rdkit"`` or ``"openbabel"`` (:func:`unite_mol.bonds.perceive_bonds`).

    Raises:
        ValueError: for an unknown format or bond method, no molecules, an item that is not a Molecule,
            several molecules for a ``.mol`` file, or a property that the format cannot hold. Nothing is
            written then (``path`` is left as it was).
    """
    from unite_mol.bonds import METHODS

    path = Path(path)
    fmt, gz = detect_format(path, format)
    if bond_method not in METHODS:
        raise ValueError(f"unknown bond_method {bond_method!r}; choose one of {', '.join(METHODS)}")
    mols = (molecules,) if isinstance(molecules, Molecule) else molecules
    count = 0
    with atomic_open(path) as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") if gz else raw
        try:
            for k, m in enumerate(mols):
                if not isinstance(m, Molecule):
                    raise ValueError(f"molecules[{k}] is a {type(m).__name__}, not a unite_mol.Molecule")
                if fmt == "mol" and k >= 1:
                    raise ValueError(f"a molfile ({path.name}) holds one molecule, got {k + 1} or more; write an "
                                     f".sdf file instead")
                out.write((_xyz_block(m) if fmt == "xyz" else _sdf_block(m, k, bond_method)).encode("utf-8"))
                count += 1
            if count == 0:
                raise ValueError(f"nothing to write to {path}: no molecules")
        finally:
            if gz:
                out.close()  # ends the gzip stream; the file itself is closed by atomic_open
    return path
