import os

# Two cores are shared by everything on the project machines; tests stay single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture
def druglike_cache(tmp_path, monkeypatch):
    """A fresh cache folder for the drug-like set (``UNITE_MOL_CACHE``), with its in-process cache cleared."""
    from unite_mol.data import druglike as dl

    monkeypatch.setenv("UNITE_MOL_CACHE", str(tmp_path / "cache"))
    dl.load_arrays.cache_clear()
    yield tmp_path / "cache"
    dl.load_arrays.cache_clear()
