"""Fuzzing the SDF / XYZ readers: mutated copies of the fixtures in tests/data must either read or fail with
a ValueError naming the file; lenient mode must never raise for a bad record; nothing reaches stderr.

A few hundred seeded mutants run in the default tier (seconds); thousands under ``-m slow``.
"""

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from unite_mol import Molecule, io

DATA = Path(__file__).parent / "data"
SOURCES = sorted(p for p in DATA.iterdir() if p.suffix in (".sdf", ".xyz", ".mol") and p.stat().st_size > 0)
JUNK = ["\u00e9", "\u20ac", "\U0001f600", "\x00", "\t", "-", ".", "e", "nan", "$$$$", "M  END", "M  CHG  1",
        "V3000", "[" * 1000 + "]" * 1000, "9" * 5000, "1" * 40, "\"", "=", "{", "\\", "\r", " 0 ", "999"]


def mutate(text: str, rng: np.random.Generator) -> bytes:
    """One to three random edits of a file: characters, junk tokens, whole lines, or raw bytes."""
    lines = text.split("\n")
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 8))
        k = int(rng.integers(0, len(lines)))
        line = lines[k]
        pos = int(rng.integers(0, len(line) + 1))
        if op == 0:    # replace one character with a junk token
            lines[k] = line[:pos] + JUNK[int(rng.integers(len(JUNK)))] + line[pos + 1:]
        elif op == 1:  # insert a junk token
            lines[k] = line[:pos] + JUNK[int(rng.integers(len(JUNK)))] + line[pos:]
        elif op == 2:  # delete a line
            del lines[k]
        elif op == 3:  # duplicate a line
            lines.insert(k, line)
        elif op == 4:  # swap two lines
            j = int(rng.integers(0, len(lines)))
            lines[k], lines[j] = lines[j], lines[k]
        elif op == 5:  # a digit changed (counts, coordinates, bond orders)
            digits = [i for i, c in enumerate(line) if c.isdigit()]
            if digits:
                i = digits[int(rng.integers(len(digits)))]
                lines[k] = line[:i] + str(int(rng.integers(10))) + line[i + 1:]
        elif op == 6:  # truncate the file
            lines = lines[:k] + [line[:pos]]
        else:          # cut a line short
            lines[k] = line[:pos]
        if not lines:
            lines = [""]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:  # a raw non-UTF-8 byte
        i = int(rng.integers(0, len(data) + 1))
        data = data[:i] + bytes([int(rng.integers(128, 256))]) + data[i:]
    return data


def check_mutants(tmp_path: Path, count: int, seed: int, capfd) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    outcomes = {"read": 0, "refused": 0}
    for k in range(count):
        src = SOURCES[int(rng.integers(len(SOURCES)))]
        data = mutate(src.read_text(), rng)
        gz = rng.random() < 0.1
        path = tmp_path / f"mutant{k}{src.suffix}{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(data) if gz else data)
        for strict in (True, False):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    got = io.read(path, strict=strict)
            except ValueError as exc:
                assert path.name in str(exc), (src.name, strict, str(exc)[:200])
                outcomes["refused"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - the point of the test: report what escaped
                pytest.fail(f"mutant {k} of {src.name} (strict={strict}) raised {type(exc).__name__}: "
                            f"{str(exc)[:200]}; data {data[:300]!r}")
            assert all(isinstance(m, Molecule) for m in got)
            assert all(e.record >= 1 and e.line >= 1 and e.message for e in got.errors)
            if strict:
                assert not got.errors
            outcomes["read"] += 1
        path.unlink()
    out, err = capfd.readouterr()
    assert err == "", f"the readers printed to stderr: {err[:500]}"
    return outcomes


def test_mutated_files_fail_only_with_value_errors_naming_the_file(tmp_path, capfd):
    outcomes = check_mutants(tmp_path, 300, seed=0, capfd=capfd)
    assert outcomes["read"] > 50 and outcomes["refused"] > 50  # the mutants exercise both paths


@pytest.mark.slow
def test_thousands_of_mutated_files(tmp_path, capfd):
    for seed in range(1, 11):
        check_mutants(tmp_path, 500, seed=seed, capfd=capfd)


def test_reader_faults_named_in_issue_13(tmp_path, capfd):
    good_sdf = (DATA / "good.sdf").read_text().split("\n")
    nested = tmp_path / "nested.xyz"
    nested.write_text("1\nk=" + "[" * 1000 + "]" * 1000 + "\nC 0 0 0\n")
    assert io.read(nested)[0].properties["k"].startswith("[[[")  # too deep for json: kept as a bare word
    big = tmp_path / "big.xyz"
    big.write_text("9" * 5000 + "\ncomment\nC 0 0 0\n1\n\nH 0 0 0\n")
    with pytest.raises(ValueError, match=r"big\.xyz: record 1, line 1: atom count with 5000 digits"):
        io.read(big)
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        assert [m.symbols for m in io.read(big, strict=False)] == [["H"]]
    lines = list(good_sdf)
    lines[4] = lines[4][:40] + "\u00e9" + lines[4][41:]
    uni = tmp_path / "uni.sdf"
    uni.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"uni\.sdf: record 1, line 5: non-ASCII character"):
        io.read(uni)
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        assert len(io.read(uni, strict=False)) == 2
    (tmp_path / "folder.sdf").mkdir()
    with pytest.raises(ValueError, match=r"folder\.sdf is a directory"):
        io.read(tmp_path / "folder.sdf")
    flat = tmp_path / "flat.sdf"   # RDKit warns "tagged as 2D, but at least one Z coordinate is not zero"
    flat.write_text("\n".join(good_sdf).replace("RDKit          3D", "RDKit          2D"))
    capfd.readouterr()
    assert len(io.read(flat)) == 3
    assert capfd.readouterr().err == ""
