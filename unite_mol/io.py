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
import warnings
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from unite_mol.files import atomic_open
from unite_mol.formats.sdf import parse_sdf, sdf_block
from unite_mol.formats.xyz import parse_xyz, xyz_block
from unite_mol.molecule import Molecule

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
    records = parse_xyz(lines) if fmt == "xyz" else parse_sdf(lines, molfile=fmt == "mol")
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


# --------------------------------------------------------------------------------------------- write
def write(path: str | Path, molecules: Molecule | Iterable[Molecule], *, format: str | None = None,
          bond_method: str | None = "edm") -> Path:
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
            ``"edm"``, ``"rdkit"`` or ``"openbabel"`` (:func:`unite_mol.bonds.perceive_bonds`), or ``None``: such
            molecules are written with atoms only (an empty bond block).

    Each SDF/molfile record with bonds carries the SD property ``unite_mol_validity``: ``ok`` when the
    molecule is a usable structure, else why not (:meth:`Molecule.invalid_reason`, e.g. ``sanitisation
    failed: Explicit valence for atom # 3 C, 5, is greater than permitted``): RDKit's ``SDMolSupplier`` returns
    ``None`` for the records that do not sanitise, and this tag says which and why.

    Raises:
        ValueError: for an unknown format or bond method, no molecules, an item that is not a Molecule
            or whose coordinates were made non-finite in place (naming its index), several molecules for
            a ``.mol`` file, or a property that the format cannot hold. Nothing is written then (``path``
            is left as it was).
    """
    from unite_mol.bonds import METHODS

    path = Path(path)
    fmt, gz = detect_format(path, format)
    if bond_method is not None and bond_method not in METHODS:
        raise ValueError(f"unknown bond_method {bond_method!r}; choose one of {', '.join(METHODS)}")
    mols = (molecules,) if isinstance(molecules, Molecule) else molecules
    count = 0
    with atomic_open(path) as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") if gz else raw
        try:
            for k, m in enumerate(mols):
                if not isinstance(m, Molecule):
                    raise ValueError(f"molecules[{k}] is a {type(m).__name__}, not a unite_mol.Molecule")
                m.check_finite(f"molecules[{k}]")   # changed in place after construction: never written
                if fmt == "mol" and k >= 1:
                    raise ValueError(f"a molfile ({path.name}) holds one molecule, got {k + 1} or more; write an "
                                     f".sdf file instead")
                out.write((xyz_block(m) if fmt == "xyz" else sdf_block(m, k, bond_method)).encode("utf-8"))
                count += 1
            if count == 0:
                raise ValueError(f"nothing to write to {path}: no molecules")
        finally:
            if gz:
                out.close()  # ends the gzip stream; the file itself is closed by atomic_open
    return path
