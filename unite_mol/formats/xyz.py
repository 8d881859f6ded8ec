"""XYZ records (see :mod:`unite_mol.io` for the format, including the ``key=value`` comment line)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import numpy as np

from unite_mol import elements
from unite_mol.formats import Record
from unite_mol.molecule import Molecule


_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*")
_BARE_VALUE = re.compile(r"[^\s\"'=\[\]{},]+")
_NOT_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_DECODER = json.JSONDecoder()
_WORD = re.compile(r"\S*")


def json_value(value: Any, key: str) -> str:
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
        k = key if _BARE_KEY.fullmatch(key) else json_value(key, key)
        if isinstance(value, str) and _BARE_VALUE.fullmatch(value) and _json_prefix(value, 0) is None:
            v = value  # a bare word that reads back as this same string
        else:
            v = json_value(value, key)
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


# long: one linear parser, each check in the order of the file's lines
def parse_xyz(lines: list[str]) -> Iterator[Record]:
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


def xyz_block(mol: Molecule) -> str:
    mol.check_finite()   # "nan nan nan" would be a file read() refuses
    out = [str(mol.num_atoms), _format_comment(dict(mol.properties))]
    for s, (x, y, z) in zip(mol.symbols, mol.positions):
        out.append(f"{s:<2} {x:15.8f} {y:15.8f} {z:15.8f}")
    return "\n".join(out) + "\n"
