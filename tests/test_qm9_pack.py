"""The QM9 pack: processed QM9 for machines without qm9pack (the GPU machines) round-trips."""

import importlib

import numpy as np
import pytest

from unite_mol.data import qm9_pack
from unite_mol.data.bond_labels import qm9_bond_labels
from unite_mol.data.qm9 import load_all, _split, qm9

qm9_module = importlib.import_module("unite_mol.data.qm9")


def _clear():
    for f in (load_all, _split, qm9):
        f.cache_clear()


def test_pack_round_trip_matches_the_package_data(tmp_path, monkeypatch):
    ref_test, ref_bonds = qm9("test"), qm9_bond_labels("valid")
    path = qm9_pack.write_pack(tmp_path / "qm9-pack.npz")
    assert path.stat().st_size < 24 * 2**20                         # travels with the repo (64 MiB in all)
    monkeypatch.setenv(qm9_pack.PACK_ENV, str(path))
    monkeypatch.setattr(qm9_module, "raw_dir", lambda: pytest.fail("the pack must not need qm9pack"))
    _clear()
    try:
        test = qm9("test")
        assert np.array_equal(test.numbers, ref_test.numbers) and np.array_equal(test.offsets, ref_test.offsets)
        assert np.abs(test.positions - ref_test.positions).max() <= qm9_pack.QUANTUM / 2 + 1e-9
        assert list(test.smiles[:5]) == list(ref_test.smiles[:5]) and np.isnan(test.properties).all()
        got = qm9_bond_labels("valid")
        assert all(np.array_equal(a, b) for a, b in zip(got, ref_bonds))
        assert "QM9 pack" in qm9_module.data_fingerprint()
        monkeypatch.setenv(qm9_pack.PACK_ENV, str(tmp_path / "missing.npz"))
        _clear()
        with pytest.raises(FileNotFoundError, match="does not exist"):
            qm9("test")
        np.savez(tmp_path / "old.npz", version=np.array(0))
        monkeypatch.setenv(qm9_pack.PACK_ENV, str(tmp_path / "old.npz"))
        _clear()
        with pytest.raises(ValueError, match="pack version 0"):
            qm9("test")
    finally:
        monkeypatch.delenv(qm9_pack.PACK_ENV)
        _clear()
