"""XYZ and SDF files: round trips, bonds, and named errors for bad input."""

import gzip

import numpy as np
import pytest

from unite_mol import Molecule, io
from unite_mol.data import qm9


def some(n=5):
    return qm9("test")[:n]


@pytest.mark.parametrize("name", ["m.xyz", "m.xyz.gz", "m.sdf", "m.sdf.gz", "m.sd"])
def test_round_trip_single_and_multi(tmp_path, name):
    mols = some()
    for batch in (mols[:1], mols):
        io.write(tmp_path / name, batch)
        back = io.read(tmp_path / name)
        assert len(back) == len(batch)
        for a, b in zip(batch, back):
            assert np.array_equal(a.numbers, b.numbers)
            assert np.abs(a.positions - b.positions).max() < 1e-4
    assert not list(tmp_path.glob("*.tmp"))


def test_qm9_test_split_round_trips(tmp_path):
    mols = list(qm9("test"))
    for name in ("all.xyz", "all.sdf"):
        io.write(tmp_path / name, mols)
        back = io.read(tmp_path / name)
        assert len(back) == len(mols) == 13_083
        assert all(np.array_equal(a.numbers, b.numbers) for a, b in zip(mols, back))
        assert max(np.abs(a.positions - b.positions).max() for a, b in zip(mols, back)) < 1e-4


def test_xyz_comment_properties_round_trip(tmp_path):
    m = some(1)[0]
    io.write(tmp_path / "p.xyz", m)
    back = io.read(tmp_path / "p.xyz")[0]
    assert back.properties["smiles"] == m.properties["smiles"]
    assert back.properties["gdb_index"] == m.properties["gdb_index"]
    assert back.properties["HOMO_au"] == m.properties["HOMO_au"]
    (tmp_path / "c.xyz").write_text("1\nwater, or so\nO 0 0 0\n")
    assert io.read(tmp_path / "c.xyz")[0].properties == {"comment": "water, or so"}
    (tmp_path / "rd.xyz").write_text("2\n\nC 0.00001 0 0\nO 1.2 0 0\n")
    io.write(tmp_path / "fixed.xyz", io.read(tmp_path / "rd.xyz"))
    assert "e-" not in (tmp_path / "fixed.xyz").read_text()


def test_sdf_carries_bonds_charges_and_perceives_missing_bonds(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles("C[NH3+]"))
    AllChem.EmbedMolecule(rd, randomSeed=0)
    charged = Molecule.from_rdkit(rd)
    bare = some(1)[0]
    assert bare.bonds is None
    io.write(tmp_path / "b.sdf", [charged, bare], bond_method="openbabel")
    back = io.read(tmp_path / "b.sdf")
    assert np.array_equal(back[0].formal_charges, charged.formal_charges)
    assert np.array_equal(back[0].bonds, charged.bonds)
    assert back[1].bonds is not None and len(back[1].bonds) > 0
    smi = Chem.MolToSmiles(Chem.RemoveHs(back[1].to_rdkit()))
    assert smi == Chem.MolToSmiles(Chem.MolFromSmiles(bare.properties["smiles"]))
    supplier = Chem.SDMolSupplier(str(tmp_path / "b.sdf"), removeHs=False)
    assert len([m for m in supplier if m is not None]) == 2


XYZ_CASES = {
    "unknown element": ("2\n\nC 0 0 0\nXx 1 0 0\n", r"record 1 \(line 1\): line 4: unknown element symbol 'Xx'"),
    "nan": ("2\n\nC 0 0 0\nO nan 0 0\n", r"line 4: non-finite coordinates"),
    "empty molecule": ("0\n\n", "empty molecule"),
    "truncated": ("3\n\nC 0 0 0\nO 1 0 0\n", "truncated: 3 atoms announced, 2 atom lines found"),
    "non-numeric": ("1\n\nC 0 zero 0\n", "non-numeric coordinates"),
    "bad count": ("two\n\nC 0 0 0\n", "expected an atom count, got 'two'"),
    "short line": ("1\n\nC 0 0\n", "expected 'symbol x y z'"),
}


@pytest.mark.parametrize("case", sorted(XYZ_CASES))
def test_bad_xyz_errors_name_file_record_line(tmp_path, case):
    text, match = XYZ_CASES[case]
    good = "1\n\nO 0 0 0\n"
    f = tmp_path / "bad.xyz"
    f.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        io.read(f)
    assert "bad.xyz" in str(info.value)
    f.write_text(good + text)
    with pytest.raises(ValueError, match="record 2 "):
        io.read(f)


def _sdf(tmp_path):
    io.write(tmp_path / "ok.sdf", some(3))
    return (tmp_path / "ok.sdf").read_text().split("$$$$\n")


def test_bad_sdf_records_named_and_lenient_mode(tmp_path):
    recs = _sdf(tmp_path)
    good1, good2 = recs[0] + "$$$$\n", recs[1] + "$$$$\n"
    lines = good2.splitlines()
    broken_coord = "\n".join(lines[:4] + ["    1.0000    abc       0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0"] + lines[5:]) + "\n"
    cases = {
        "coords": (broken_coord, "line .*non-numeric coordinates"),
        "truncated": ("\n".join(lines[:6]) + "\n$$$$\n", "truncated record"),
        "no terminator": (recs[1], "missing the '\\$\\$\\$\\$' terminator"),
        "element": (good2.replace(" C   0", " Qq  0", 1), "unknown element 'Qq'"),
    }
    for name, (bad, match) in cases.items():
        f = tmp_path / f"{name}.sdf"
        f.write_text(good1 + bad if name != "no terminator" else good1 + bad)
        with pytest.raises(ValueError, match="record 2 .*" + match):
            io.read(f)
        with pytest.warns(UserWarning, match="skipped 1 bad record"):
            res = io.read(f, strict=False)
        assert len(res) == 1 and len(res.errors) == 1 and res.errors[0].record == 2


def test_bond_to_missing_atom_and_empty_files(tmp_path):
    recs = _sdf(tmp_path)
    lines = recs[0].splitlines()
    na = int(lines[3][:3])
    lines[4 + na] = "  1 99  1  0"
    f = tmp_path / "bond.sdf"
    f.write_text("\n".join(lines) + "\n$$$$\n")
    with pytest.raises(ValueError, match="bond to a missing atom"):
        io.read(f)
    (tmp_path / "empty.xyz").write_text("\n")
    with pytest.raises(ValueError, match="no records"):
        io.read(tmp_path / "empty.xyz")
    with pytest.raises(ValueError, match="cannot tell the format"):
        io.read(tmp_path / "x.pdb")
    with pytest.raises(FileNotFoundError):
        io.read(tmp_path / "nothing.xyz")
    (tmp_path / "bad.xyz.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a valid gzip"):
        io.read(tmp_path / "bad.xyz.gz")
    with pytest.raises(ValueError, match="no molecules"):
        io.write(tmp_path / "none.xyz", [])
