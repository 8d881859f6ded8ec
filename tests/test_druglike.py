"""The offline drug-like set: seeded nested sampling, committed split, conformers, cache, workers, card."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")

from unite_mol.data import druglike as dl  # noqa: E402

try:
    dl.source_path()
    HAVE_MOSES = True
except FileNotFoundError:
    HAVE_MOSES = False
needs_moses = pytest.mark.skipif(not HAVE_MOSES, reason="molsets (MOSES SMILES) is not installed")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNITE_MOL_CACHE", str(tmp_path / "cache"))
    dl.load_arrays.cache_clear()
    yield tmp_path / "cache"
    dl.load_arrays.cache_clear()


def canonical(smiles: str) -> str:
    from rdkit import Chem

    m = Chem.MolFromSmiles(smiles)
    Chem.RemoveStereochemistry(m)
    return Chem.MolToSmiles(m)


@needs_moses
def test_sample_is_seeded_nested_and_matches_the_committed_split():
    small, big = dl.sample(10), dl.sample(30)
    for key in ("moses_row", "smiles", "split"):
        assert np.array_equal(small[key], big[key][:10])
    assert big["split"].tolist() == [0] * 8 + [1, 2] + [0] * 8 + [1, 2] + [0] * 8 + [1, 2]
    assert not np.array_equal(dl.sample(10, seed=1)["moses_row"], small["moses_row"])
    assert dl.check_against_committed(big, seed=0) == 30
    committed = dl.read_split_file()
    assert len(committed["smiles"]) == dl.DEFAULT_SIZE
    assert [int((committed["split"] == c).sum()) for c in range(3)] == [1600, 200, 200]
    with pytest.raises(ValueError, match="size must be in"):
        dl.sample(0)


@needs_moses
def test_tampered_split_file_is_caught(tmp_path):
    text = dl.REPO_SPLIT_FILE.read_text().splitlines()
    row = text[5].split(",", 3)
    text[5] = ",".join(row[:3] + ["CCO"])
    bad = tmp_path / "split.csv"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match="position 3 disagrees"):
        dl.check_against_committed(dl.sample(10), seed=0, path=bad)
    assert dl.check_against_committed(dl.sample(10, seed=5), seed=5, path=bad) == 0   # another seed: not compared


def test_conformer_and_its_failure_reasons():
    ok = dl.conformer("C[NH3+].CC(=O)[O-]")
    assert "reason" not in ok and np.isfinite(ok["energy"])
    assert sorted(ok["charges"].tolist())[0] == -1 and max(ok["charges"]) == 1
    assert dl.conformer("C1CC")["reason"] == "RDKit cannot parse the SMILES"
    assert dl.conformer("OB(O)c1ccccc1")["reason"] == "MMFF94 has no parameters for some atom"
    assert dl.conformer("CCCCCCCCCCc1ccccc1", max_iters=1)["reason"] == "MMFF94 did not converge in 1 iterations"
    again = dl.conformer("C[NH3+].CC(=O)[O-]")
    np.testing.assert_array_equal(ok["positions"], again["positions"])          # seeded


@needs_moses
def test_build_load_and_cache(cache):
    path = dl.build(10, workers=1, progress=False)
    mtime = path.stat().st_mtime_ns
    assert dl.build(10, workers=1, progress=False) == path and path.stat().st_mtime_ns == mtime   # cached
    assert path.parent == cache and dl.cache_path(11) != path
    parts = {name: dl.druglike(name, size=10, workers=1, progress=False) for name in dl.SPLIT_NAMES}
    assert [len(parts[n]) for n in dl.SPLIT_NAMES] == [8, 1, 1]
    ref = dl.sample(10)
    mol = parts["train"][0]
    assert mol.properties["smiles"] == ref["smiles"][0] and mol.properties["moses_row"] == ref["moses_row"][0]
    assert (mol.bonds[:, 2] == 4).sum() == 11          # the two aromatic rings keep aromatic bonds
    for name in dl.SPLIT_NAMES:
        for m in parts[name]:
            assert m.smiles == canonical(m.properties["smiles"])   # the conformer is the molecule
            assert (m.numbers == 1).any()                                       # explicit hydrogens
    with pytest.raises(ValueError, match="unknown drug-like split"):
        dl.druglike("val", size=10)
    with pytest.raises(IndexError):
        parts["test"][5]


@needs_moses
def test_two_workers_give_the_same_set(cache):
    one = np.load(dl.build(6, workers=1, progress=False))
    two = np.load(dl.build(6, workers=2, progress=False, force=True))
    for key in ("numbers", "positions", "charges", "bonds", "energy", "smiles", "split"):
        np.testing.assert_array_equal(one[key], two[key])


@needs_moses
def test_card(cache, tmp_path):
    out = tmp_path / "card"
    path = dl.main(["card", "--size", "10", "--workers", "1", "--no-progress", "--out-dir", str(out)])
    assert path == 0
    text = (out / "README.md").read_text()
    assert "force-field conformers, not GEOM's" in text
    assert "| all | 10 |" in text and "MMFF94 energies" in text and "0 of 10 sampled molecules" in text
    assert "| `bonds` | 100.00 %" in text   # the data's own bonds pass the bond-protocol stability
    assert (out / "histograms.png").stat().st_size > 10_000


def test_cli_validates():
    with pytest.raises(SystemExit):
        dl.main(["build", "--size", "0"])
    with pytest.raises(SystemExit):
        dl.main(["build", "--workers", "0"])
    with pytest.raises(SystemExit):
        dl.main(["bogus"])
