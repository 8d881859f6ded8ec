"""XYZ and SDF files: round trips, bonds and charges, atomic writes, and named errors for bad input.

Fixtures in ``tests/data`` (see its README): good files, and bad files whose second record (or frame) has
one defect between two good ones, so that lenient reading must return the good neighbours.
"""

import gzip
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from unite_mol import Molecule, io

DATA = Path(__file__).parent / "data"


def embedded(smiles: str, seed: int = 0, **props) -> Molecule:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(rd, randomSeed=seed) == 0
    return Molecule.from_rdkit(rd).replace(properties=props)


@pytest.fixture(scope="module")
def mols() -> list[Molecule]:
    """Small molecules with bonds: aromatic, charged (anion, zwitterion, cation) and plain."""
    return [embedded("c1ccccc1O", name="phenol", id=1), embedded("CC(=O)[O-]", name="acetate", charge=-1),
            embedded("[NH3+]CC(=O)[O-]", name="glycine zwitterion"), embedded("CCO"), embedded("C#N", seed=3)]


def assert_same_atoms(a: list[Molecule], b: list[Molecule], tol: float = 1e-4) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.array_equal(x.numbers, y.numbers)
        assert np.abs(x.positions - y.positions).max() < tol


# --------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", ["m.xyz", "m.xyz.gz", "m.sdf", "m.sdf.gz", "m.sd", "m.SDF", "m.sd.gz"])
def test_round_trip_single_and_multi(tmp_path, mols, name):
    for batch in (mols[0], mols[:1], mols):
        io.write(tmp_path / name, batch)
        back = io.read(tmp_path / name)
        assert isinstance(back, io.ReadResult) and back.errors == []
        assert_same_atoms([batch] if isinstance(batch, Molecule) else batch, back)
    if name.endswith(".gz"):
        assert gzip.decompress((tmp_path / name).read_bytes())  # a real gzip file
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary files left


def test_explicit_format_and_mol_file(tmp_path, mols):
    io.write(tmp_path / "m.txt", mols, format="xyz")
    assert_same_atoms(mols, io.read(tmp_path / "m.txt", format="xyz"))
    io.write(tmp_path / "m.dat.gz", mols, format="sdf")
    assert_same_atoms(mols, io.read(tmp_path / "m.dat.gz", format="sdf"))
    io.write(tmp_path / "one.mol", mols[1])
    back = io.read(tmp_path / "one.mol")[0]
    assert np.array_equal(back.bonds, mols[1].bonds) and back.formal_charges.sum() == -1
    # a molfile written by another program ends at 'M  END', without '$$$$'
    nh4 = io.read(DATA / "ammonium.mol")
    assert len(nh4) == 1 and nh4[0].formula == "H4N" and nh4[0].formal_charges.tolist() == [1, 0, 0, 0, 0]


def test_xyz_is_fixed_point_and_rdkit_reads_it(tmp_path):
    from rdkit import Chem

    m = Molecule([6, 8], [[1e-5, -2e-7, 0.0], [1.2, 3e-9, 1e3]], properties={"name": "CO"})
    io.write(tmp_path / "t.xyz", m)
    text = (tmp_path / "t.xyz").read_text()
    assert "e-" not in text and "e+" not in text
    rd = Chem.MolFromXYZFile(str(tmp_path / "t.xyz"))
    assert rd is not None and np.abs(rd.GetConformer().GetPositions() - m.positions).max() < 1e-8
    assert np.abs(io.read(tmp_path / "t.xyz")[0].positions - m.positions).max() < 1e-8


def test_xyz_comment_properties_round_trip(tmp_path):
    props = {"name": "water 1", "smiles": "O", "gdb_index": 7, "HOMO_au": -0.2536, "tiny": 1e-300,
             "flag": True, "none": None, "nan": float("nan"), "inf": -float("inf"), "np_float": np.float32(0.5),
             "np_int": np.int64(3), "array": np.arange(3), "nested": {"a": [1, "b c"]}, "tuple": (1, 2),
             "quoted": 'he said "hi"', "backslash": "a\\b", "equals": "a=b", "newline": "a\nb",
             "looks_numeric": "12", "looks_bool": "true", "empty": "", "unicode": "Ångström\u2028x",
             "bad key": 1, "": "empty key", "Lattice": "0 0 0"}
    m = Molecule([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], properties=props)
    io.write(tmp_path / "p.xyz", [m, m])
    lines = (tmp_path / "p.xyz").read_text().split("\n")
    assert len(lines) == 2 * 5 + 1  # every comment stayed on one line
    back = io.read(tmp_path / "p.xyz")
    expected = dict(props, np_float=0.5, np_int=3, array=[0, 1, 2], tuple=[1, 2])
    for got in back:
        assert set(got.properties) == set(expected)
        for k, v in expected.items():
            if isinstance(v, float) and np.isnan(v):
                assert np.isnan(got.properties[k])
            else:
                assert got.properties[k] == v and type(got.properties[k]) is type(v), k


def test_xyz_comment_lines_from_elsewhere(tmp_path):
    good = io.read(DATA / "good_multi.xyz")
    assert [m.formula for m in good] == ["H2O", "CH4", "H3N"]
    assert good[0].properties == {"name": "water", "source": "rdkit-etkdg", "id": 1}
    assert good[1].properties == {"comment": "methane, from RDKit"}  # free text is kept whole
    assert good[2].properties == {}
    ase_like = '1\nLattice="0 0 0 0 0 0 0 0 0" Properties=species:S:1:pos:R:3 pbc="F F F"\nO 0 0 0 extra\n'
    (tmp_path / "ase.xyz").write_text(ase_like)
    assert io.read(tmp_path / "ase.xyz")[0].properties == {
        "Lattice": "0 0 0 0 0 0 0 0 0", "Properties": "species:S:1:pos:R:3", "pbc": "F F F"}
    for comment in ('a="unterminated', "a=1 b", "=1", "E = 1.5"):
        (tmp_path / "c.xyz").write_text(f"1\n{comment}\nO 0 0 0\n")
        assert io.read(tmp_path / "c.xyz")[0].properties == {"comment": comment}
    (tmp_path / "crlf.xyz").write_bytes(b"1\r\nname=w\r\nO 0 0 0\r\n\r\n")
    assert io.read(tmp_path / "crlf.xyz")[0].properties == {"name": "w"}
    (tmp_path / "z.xyz").write_text("2\n\n8 0 0 0\nh 0.96 0 0\n")  # atomic numbers and any case
    assert io.read(tmp_path / "z.xyz")[0].numbers.tolist() == [8, 1]


def test_sdf_keeps_bonds_charges_properties_and_order(tmp_path, mols):
    from rdkit import Chem

    io.write(tmp_path / "m.sdf", mols)
    text = (tmp_path / "m.sdf").read_text()
    assert "M  CHG" in text and text.count("$$$$") == len(mols)
    back = io.read(tmp_path / "m.sdf")
    assert_same_atoms(mols, back)
    for a, b in zip(mols, back):
        assert np.array_equal(a.bonds, b.bonds)
        assert np.array_equal(a.formal_charges, b.formal_charges)
        # SD properties are text; the name is the title line
        assert b.properties.pop("unite_mol_validity") == (a.invalid_reason() or "ok")   # written with the bonds
        assert b.properties == {k: v if isinstance(v, str) else str(v) for k, v in a.properties.items()}
    assert 4 in back[0].bonds[:, 2]  # aromatic bonds stay aromatic
    # RDKit reads the file on its own, with the same charges
    rd = [m for m in Chem.SDMolSupplier(str(tmp_path / "m.sdf"), removeHs=False)]
    assert all(m is not None for m in rd)
    assert [sum(a.GetFormalCharge() for a in m.GetAtoms()) for m in rd] == [0, -1, 0, 0, 0]
    good = io.read(DATA / "good.sdf")
    assert [m.properties.get("name") for m in good] == ["water", "methane", "ammonium"]
    assert good[2].formal_charges.tolist() == [1, 0, 0, 0, 0] and good[2].properties["note"] == "formal charge +1 on N"


@pytest.mark.parametrize("method", ["edm", "rdkit", "openbabel"])
def test_sdf_perceives_missing_bonds(tmp_path, mols, method):
    from unite_mol.bonds import perceive_bonds

    bare = [m.replace(bonds=None, charges=None) for m in (mols[0], mols[3], mols[4])]
    io.write(tmp_path / "b.sdf", bare, bond_method=method)
    back = io.read(tmp_path / "b.sdf")
    assert_same_atoms(bare, back)
    for m, b in zip(bare, back):
        assert np.array_equal(b.bonds, perceive_bonds(m, method).bonds)
        assert b.properties["bond_perception"].startswith(method)
    # the total formal charge is handed to charge-aware perception
    acetate = mols[1].replace(bonds=None)
    io.write(tmp_path / "a.sdf", acetate, bond_method="rdkit")
    assert io.read(tmp_path / "a.sdf")[0].formal_charges.sum() == -1


@pytest.mark.parametrize("method", ["edm", "rdkit", "openbabel"])
def test_what_we_write_we_read_back_random_molecules(tmp_path, method):
    """Generated molecules have odd valences, lone atoms and charges; every record must read back."""
    from unite_mol.bonds import perceive_bonds

    rng = np.random.default_rng(0)
    mols = []
    for k in range(150):
        n = int(rng.integers(1, 16))
        charges = rng.choice([0, 0, 0, 1, -1], size=n) if k % 2 else None
        mols.append(Molecule(rng.choice([1, 6, 7, 8, 9, 16, 17], size=n), rng.normal(size=(n, 3)) * 0.9 * n ** (1 / 3),
                             charges=charges, properties={"seed": k}))
    io.write(tmp_path / "r.sdf", mols, bond_method=method)
    back = io.read(tmp_path / "r.sdf")
    assert_same_atoms(mols, back)
    for m, b in zip(mols, back):
        expected = perceive_bonds(m, method, charge=int(m.formal_charges.sum()))
        assert np.array_equal(b.bonds, expected.bonds)
        assert np.array_equal(b.formal_charges, expected.formal_charges)
        assert b.properties["seed"] == str(m.properties["seed"])


# --------------------------------------------------------------------------------------------- bad input
# file, record, line, problem (regex), good molecules returned by lenient reading
BAD_FILES = [
    ("bad_element.xyz", 2, 9, r"unknown element symbol 'Xx'", 2),
    ("bad_nan.xyz", 2, 9, r"non-finite coordinates \(NaN or inf\) 'nan 0.0 0.0'", 2),
    ("bad_inf.xyz", 2, 9, r"non-finite coordinates \(NaN or inf\) '1.2 -inf 0.0'", 2),
    ("bad_non_numeric.xyz", 2, 9, r"non-numeric coordinates '1.2 zero 0.0'", 2),
    ("bad_short_line.xyz", 2, 9, r"expected 'symbol x y z', got 'O 1.2 0.0'", 2),
    ("bad_count_word.xyz", 2, 6, r"expected the atom count of a frame, got 'two'", 2),
    ("bad_zero_atoms.xyz", 2, 6, r"empty molecule: the atom count is 0", 2),
    ("bad_too_few_atoms.xyz", 2, 10, r"wrong atom count: line 6 announces 3 atoms, but the frame has only 2 atom lines", 2),
    ("bad_too_many_atoms.xyz", 2, 9, r"wrong atom count: line 6 announces 1 atoms, but more atom lines follow", 2),
    ("bad_truncated.xyz", 2, 9, r"truncated frame: line 6 announces 3 atoms, the file ends after 2 atom lines", 1),
    ("bad_element.sdf", 2, 22, r"unknown element symbol 'Qq'", 2),
    ("bad_nan.sdf", 2, 23, r"non-finite coordinates \(NaN or inf\) in atom line", 2),
    ("bad_non_numeric.sdf", 2, 23, r"non-numeric coordinates in atom line '0.5482    abc.de", 2),
    ("bad_bond_atom.sdf", 2, 28, r"bond to a missing atom: 1-99, the molecule has 5 atoms", 2),
    ("bad_bond_type.sdf", 2, 28, r"unsupported bond type 9", 2),
    ("bad_charge_atom.sdf", 2, 31, r"CHG line refers to a missing atom 9, the molecule has 5 atoms", 2),
    ("bad_counts.sdf", 2, 21, r"malformed counts line 'x  4  0", 2),
    ("bad_zero_atoms.sdf", 2, 21, r"empty molecule: the counts line announces 0 atoms", 2),
    ("bad_truncated.sdf", 2, 26, r"truncated record: the counts line .* announces 5 atoms and 4 bonds, only 4 lines follow", 2),
    ("bad_no_m_end.sdf", 2, 30, r"missing 'M  END'", 2),
    ("bad_no_terminator.sdf", 2, 18, r"truncated record: no '\$\$\$\$' terminator before the end of the file \(line 34\)", 1),
    ("bad_implicit_h.sdf", 2, 18, r"4 implicit hydrogens: unite_mol needs every atom written explicitly", 2),
    ("bad_v3000.sdf", 2, 28, r"RDKit: Line 11 does not start with 'M  V30 '", 2),  # RDKit's own reason
]


@pytest.mark.parametrize("name,record,line,problem,n_good", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_record_strict_names_file_record_line_problem(name, record, line, problem, n_good):
    path = DATA / name
    with pytest.raises(ValueError, match=rf"^{path}: record {record}, line {line}: {problem}"):
        io.read(path)


@pytest.mark.parametrize("name,record,line,problem,n_good", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_record_lenient_returns_good_ones_and_reports(name, record, line, problem, n_good):
    path = DATA / name
    with pytest.warns(UserWarning, match=rf"{name}: skipped 1 bad record\(s\) of {n_good + 1}"):
        got = io.read(path, strict=False)
    assert len(got) == n_good and all(isinstance(m, Molecule) for m in got)
    assert [(e.record, e.line) for e in got.errors] == [(record, line)]
    assert got.errors[0].message and re.match(problem, got.errors[0].message)
    if n_good == 2:  # the good records on both sides of the bad one survive, in order
        first, last = io.read(DATA / ("good.sdf" if name.endswith(".sdf") else "good_multi.xyz"))[0], got[1]
        assert np.array_equal(got[0].positions, first.positions)
        assert last.formula in ("H4N", "O")


def test_lenient_collects_every_bad_record(tmp_path):
    frames = ["1\n\nO 0 0 0\n", "1\n\nXx 0 0 0\n", "1\n\nC 0 nan 0\n", "1\n\nN 0 0 0\n"]
    (tmp_path / "m.xyz").write_text("".join(frames))
    with pytest.raises(ValueError, match=r"record 2, line 6: unknown element"):
        io.read(tmp_path / "m.xyz")
    with pytest.warns(UserWarning, match="skipped 2 bad record"):
        got = io.read(tmp_path / "m.xyz", strict=False)
    assert [m.formula for m in got] == ["O", "N"]
    assert [(e.record, e.line) for e in got.errors] == [(2, 6), (3, 9)]
    assert str(got.errors[1]) == "record 3, line 9: non-finite coordinates (NaN or inf) '0 nan 0'"
    (tmp_path / "bad.xyz").write_text(frames[1])
    with pytest.warns(UserWarning, match="skipped 1 bad record"):
        assert io.read(tmp_path / "bad.xyz", strict=False) == []  # nothing good: empty, not silent


def test_unreadable_files(tmp_path):
    for name in ("empty.xyz", "empty.sdf"):
        with pytest.raises(ValueError, match=rf"{name}: no records \(the file is empty\)"):
            io.read(DATA / name)
    (tmp_path / "blank.sdf").write_text("\n  \n")
    with pytest.raises(ValueError, match="no records"):
        io.read(tmp_path / "blank.sdf", strict=False)
    with pytest.raises(ValueError, match=r"'x.pdb' .*supported: \.xyz, \.sdf, \.sd, \.mol \(each optionally with \.gz\)"):
        io.read(tmp_path / "x.pdb")
    with pytest.raises(ValueError, match="cannot tell the format of 'x.gz'"):
        io.read(tmp_path / "x.gz")
    with pytest.raises(ValueError, match="unknown format 'pdb'"):
        io.read(DATA / "good.sdf", format="pdb")
    with pytest.raises(FileNotFoundError, match="nothing.xyz"):
        io.read(tmp_path / "nothing.xyz")
    (tmp_path / "bad.xyz.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.xyz.gz: not a valid gzip file"):
        io.read(tmp_path / "bad.xyz.gz")
    (tmp_path / "cut.xyz.gz").write_bytes(gzip.compress(b"1\n\nO 0 0 0\n" * 100)[:-20])
    with pytest.raises(ValueError, match="not a valid gzip file"):
        io.read(tmp_path / "cut.xyz.gz")
    (tmp_path / "bin.xyz").write_bytes(b"1\n\nO 0 0 \xff\n")
    with pytest.raises(ValueError, match="bin.xyz: not a UTF-8 text file"):
        io.read(tmp_path / "bin.xyz")


# --------------------------------------------------------------------------------------------- writing
def test_write_rejects_bad_requests_and_writes_nothing(tmp_path, mols):
    target = tmp_path / "keep.sdf"
    target.write_text("old content\n")
    cases = [
        (dict(molecules=[]), "no molecules"),
        (dict(molecules=[mols[0], "CCO"]), r"molecules\[1\] is a str, not a unite_mol.Molecule"),
        (dict(molecules=mols, bond_method="magic"), "unknown bond_method 'magic'; choose one of edm, rdkit, openbabel"),
        (dict(molecules=[mols[0], mols[1].replace(properties={"name": "two\nlines"})]),
         r"molecules\[1\]: properties\['name'\] is the SDF title line"),
        (dict(molecules=[mols[0].replace(properties={"a<b": 1})]), r"SD property name 'a<b'"),
        (dict(molecules=[mols[0].replace(properties={"v": "one\n\nthree"})]), "blank line"),
        (dict(molecules=[mols[0].replace(properties={"v": "$$$$"})]), r"'\$\$\$\$' line"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            io.write(target, **kwargs)
    with pytest.raises(ValueError, match="property 'obj' has a value of type object"):
        io.write(tmp_path / "keep.xyz", mols[0].replace(properties={"obj": object()}))
    with pytest.raises(ValueError, match=r"a molfile \(two.mol\) holds one molecule, got 2"):
        io.write(tmp_path / "two.mol", mols[:2])
    with pytest.raises(ValueError, match="cannot tell the format"):
        io.write(tmp_path / "m.pdb", mols)
    assert target.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.sdf"]


def test_write_is_atomic(tmp_path, mols, monkeypatch):
    target = tmp_path / "m.xyz"
    io.write(target, mols[:1])
    before = target.read_bytes()

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    import unite_mol.files

    monkeypatch.setattr(unite_mol.files.os, "replace", crash)  # where io.write's atomic write lives
    with pytest.raises(OSError, match="simulated"):
        io.write(target, mols)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.xyz"]  # and the temporary file is gone
    monkeypatch.undo()
    io.write(tmp_path / "new" / "dir" / "m.sdf.gz", mols)  # parents are created
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    assert os.stat(tmp_path / "new" / "dir" / "m.sdf.gz").st_mode == os.stat(reference).st_mode  # usual permissions


def test_gzip_output_is_deterministic(tmp_path, mols, monkeypatch):
    for name, now in (("a.sdf.gz", 1.0e9), ("b.sdf.gz", 2.0e9)):  # gzip stores a time stamp unless told not to
        monkeypatch.setattr(time, "time", lambda: now)
        io.write(tmp_path / name, mols)
    assert (tmp_path / "a.sdf.gz").read_bytes() == (tmp_path / "b.sdf.gz").read_bytes()


# --------------------------------------------------------------------------------------------- QM9
def _qm9_test_split():
    data = pytest.importorskip("unite_mol.data")
    if not hasattr(data, "qm9"):
        pytest.skip("unite_mol.data.qm9 is not available")
    return data.qm9("test")


def _check_qm9_round_trip(tmp_path, mols):
    for name in ("qm9.xyz", "qm9.sdf"):
        io.write(tmp_path / name, mols)
        back = io.read(tmp_path / name)
        assert_same_atoms(mols, back)
        if name.endswith(".xyz"):  # the comment line keeps the properties exactly
            assert all(a.properties == b.properties for a, b in zip(mols, back))
        else:
            assert all(b.properties["name"] == a.properties["name"] for a, b in zip(mols, back))


@pytest.mark.slow
def test_qm9_test_split_round_trips(tmp_path):
    """All 13,083 QM9 test molecules through XYZ and SDF (bonds perceived with EDM's tables): ~50 s (slow tier;
    the default tier round-trips the first 2,000, below)."""
    mols = list(_qm9_test_split())
    assert len(mols) == 13_083
    _check_qm9_round_trip(tmp_path, mols)


def test_qm9_test_molecules_round_trip(tmp_path):
    """The first 2,000 QM9 test molecules through XYZ and SDF, the same checks as the whole split."""
    mols = list(_qm9_test_split())[:2000]
    _check_qm9_round_trip(tmp_path, mols)


def test_atomic_open_leaves_the_old_file_on_failure(tmp_path):
    from unite_mol.files import atomic_open

    target = tmp_path / "f.txt"
    with atomic_open(target, "w") as fh:
        fh.write("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target, "w") as fh:
            fh.write("new, half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_open(target, "a"):
            pass
