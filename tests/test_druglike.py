"""The offline drug-like set: seeded nested sampling, committed split, conformers, cache, workers, card."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")

from unite_mol.data import druglike as dl  # noqa: E402

from helpers import have_moses  # noqa: E402

HAVE_MOSES = have_moses()
needs_moses = pytest.mark.skipif(not HAVE_MOSES, reason="molsets (MOSES SMILES) is not installed")


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
def test_build_load_and_cache(druglike_cache):
    path = dl.build(10, workers=1, progress=False)
    mtime = path.stat().st_mtime_ns
    assert dl.build(10, workers=1, progress=False) == path and path.stat().st_mtime_ns == mtime   # cached
    assert path.parent == druglike_cache and dl.cache_path(11) != path
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
def test_two_workers_give_the_same_set(druglike_cache):
    one = np.load(dl.build(6, workers=1, progress=False))
    two = np.load(dl.build(6, workers=2, progress=False, force=True))
    for key in ("numbers", "positions", "charges", "bonds", "energy", "smiles", "split"):
        np.testing.assert_array_equal(one[key], two[key])


KEYS = ("position", "moses_row", "numbers", "positions", "charges", "offsets", "bonds", "bond_offsets", "energy",
        "smiles", "split", "failed_position", "failed_reason")


def arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@needs_moses
def test_build_resumes_from_its_shards_and_equals_a_fresh_build(druglike_cache):
    """Issue 29: building 20 then 40 (two workers, shards of 10) computes the second 20 only, and gives what
    one uninterrupted single-worker build gives."""
    dl.build(20, workers=2, progress=False, shard_size=10)
    folder = dl.shard_dir()
    first = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sorted(first) == ["000000000-000000010.npz", "000000010-000000020.npz"]
    resumed = arrays(dl.build(40, workers=2, progress=False, shard_size=10))
    now = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert len(now) == 4 and all(now[k] == v for k, v in first.items())      # the first shards were not redone
    assert int(resumed["build_shards"]) == 4 and float(resumed["build_worker_seconds"]) > 0
    small = arrays(dl.cache_path(20))
    for key in ("numbers", "positions", "smiles"):                            # a larger build extends a smaller one
        np.testing.assert_array_equal(small[key], resumed[key][: len(small[key])])
    fresh = arrays(dl.build(40, workers=1, progress=False, shard_size=40, force=True))
    assert sorted(p.name for p in folder.iterdir()) == ["000000000-000000040.npz"]
    for key in KEYS:
        np.testing.assert_array_equal(resumed[key], fresh[key], err_msg=key)


@needs_moses
def test_a_stopped_build_keeps_its_finished_shards(druglike_cache, monkeypatch):
    real = dl.conformer
    calls = []

    def stop_at_the_15th(smiles, seed=0, **kw):
        calls.append(smiles)
        if len(calls) == 15:
            raise KeyboardInterrupt
        return real(smiles, seed, **kw)

    monkeypatch.setattr(dl, "conformer", stop_at_the_15th)
    with pytest.raises(KeyboardInterrupt):
        dl.build(30, workers=1, progress=False, shard_size=10)
    assert not dl.cache_path(30).exists()
    assert [p.name for p in dl.shard_dir().iterdir()] == ["000000000-000000010.npz"]   # no partial shard, no temp file
    calls.clear()
    monkeypatch.setattr(dl, "conformer", lambda smiles, seed=0, **kw: calls.append(smiles) or real(smiles, seed, **kw))
    data = arrays(dl.build(30, workers=1, progress=False, shard_size=10))
    assert len(calls) == 20 and calls[0] == dl.sample(30)["smiles"][10]          # only the missing 20
    assert len(data["smiles"]) + len(data["failed_smiles"]) == 30


def die_at_position_25(task):
    """A worker that is killed from outside on molecule 25 (sent to spawned workers by reference)."""
    import os
    import signal

    if task[0] == 25:
        os.kill(os.getpid(), signal.SIGKILL)
    return dl._work(task)


@needs_moses
def test_a_dead_worker_stops_the_build_instead_of_hanging(druglike_cache):
    """A multiprocessing.Pool waits forever for a dead worker's task; the build must stop, keep its shards and
    resume."""
    s = dl.sample(30)
    folder = dl.shard_dir()
    folder.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="worker process died.*run the same command again to continue"):
        dl._run(s, dl._chunks(np.arange(30), 10), folder, seed=0, workers=2, progress=False, work=die_at_position_25)
    kept = sorted(p.name for p in folder.iterdir())
    assert set(kept) <= {"000000000-000000010.npz", "000000010-000000020.npz"}   # whole shards only
    data = arrays(dl.build(30, workers=1, progress=False, shard_size=10))
    assert len(data["smiles"]) + len(data["failed_smiles"]) == 30


def test_settings_fingerprint_names_what_decides_a_conformer():
    if not HAVE_MOSES:
        pytest.skip("molsets (MOSES SMILES) is not installed")
    s = dl.build_settings(0)
    assert s["molsets"] == "0.3.1" and s["etkdg"]["method"] == "ETKDGv3" and s["mmff"]["max_iters"] == dl.MMFF_MAX_ITERS
    assert "size" not in s                                                   # shards are shared by every size
    assert dl.settings_key(0) != dl.settings_key(1) and dl.cache_path(10) != dl.cache_path(20)
    with pytest.raises(ValueError, match="shard_size"):
        dl.build(10, shard_size=0)


@needs_moses
def test_card(druglike_cache, tmp_path):
    out = tmp_path / "card"
    from unite_mol.bench.druglike_card import main as card_main

    path = card_main(["--size", "10", "--workers", "1", "--no-progress", "--out-dir", str(out)])
    assert path == 0
    text = (out / "README.md").read_text()
    assert "force-field conformers, not GEOM's" in text
    assert "| all | 10 |" in text and "MMFF94 energies" in text and "0 of 10 sampled molecules" in text
    assert "| `bonds` | 100.00 %" in text   # the data's own bonds pass the bond-protocol stability
    assert "s of wall-clock for 10 molecules (over all sittings, 1 shard(s)" in text and "settings fingerprint" in text
    assert "Atom-count histogram" in text
    assert (out / "histograms.png").stat().st_size > 10_000


def test_cli_validates():
    with pytest.raises(SystemExit):
        dl.main(["build", "--size", "0"])
    with pytest.raises(SystemExit):
        dl.main(["build", "--workers", "0"])
    with pytest.raises(SystemExit):
        dl.main(["bogus"])
    with pytest.raises(SystemExit):
        dl.main(["build", "--shard-size", "0"])
    with pytest.raises(SystemExit):
        dl.main(["card"])                 # the card is a bench command now
    assert dl.card_dir() == dl.REPO_DIR and dl.card_dir(50_000).name == "druglike-50000"
