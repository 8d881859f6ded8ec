import time

import numpy as np
import pytest
import torch

from unite_mol import Molecule
from unite_mol.data import (BucketBatchSampler, collate, collate_arrays, masked_center, qm9, random_rotations,
                            rotate)
import importlib

qm9_module = importlib.import_module("unite_mol.data.qm9")
from unite_mol.data.qm9 import REPO_SPLIT_FILE, SPLIT_SHA256, make_split, split_sha256


def test_split_sizes_disjoint_and_complete():
    parts = {s: qm9(s) for s in ("train", "valid", "test")}
    assert {s: len(p) for s, p in parts.items()} == {"train": 100_000, "valid": 17_748, "test": 13_083}
    ids = [set(p.gdb_index.tolist()) for p in parts.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 130_831


def test_committed_split_is_the_seeded_split():
    with np.load(REPO_SPLIT_FILE) as f:
        committed = {k: f[k] for k in ("train", "valid", "test")}
    regenerated = make_split(qm9_module.load_all()["gdb_index"])
    for k in committed:
        np.testing.assert_array_equal(committed[k], regenerated[k])
    assert split_sha256(committed) == SPLIT_SHA256


def test_cached_load_is_fast_and_molecules_are_valid():
    qm9_module.load_all.cache_clear()
    qm9.cache_clear()
    t0 = time.time()
    test = qm9("test")
    assert time.time() - t0 < 10
    m = test[0]
    assert isinstance(m, Molecule)
    assert m.num_atoms == test.num_atoms[0]
    assert set(np.unique(test.numbers)) <= {1, 6, 7, 8, 9}
    assert m.properties["smiles"] and m.properties["inchi"].startswith("InChI=")
    assert 3 <= test.num_atoms.min() and test.num_atoms.max() <= 29
    with pytest.raises(ValueError, match="unknown QM9 split"):
        qm9("training")
    with pytest.raises(IndexError):
        test[len(test)]


def test_cache_dir_env_override(tmp_path, monkeypatch):
    from unite_mol.data.cache import cache_dir

    monkeypatch.setenv("UNITE_MOL_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_collate_pads_centres_and_matches_fast_path():
    test = qm9("test")
    rows = np.array([0, 5, 17])
    slow = collate([test[i] for i in rows])
    fast = collate_arrays(test.numbers, test.positions, test.offsets, rows)
    torch.testing.assert_close(slow.positions, fast.positions)
    assert torch.equal(slow.mask, fast.mask) and torch.equal(slow.numbers, fast.numbers)
    assert torch.all(fast.positions[~fast.mask] == 0)
    centre = fast.positions.sum(1) / fast.mask.sum(1, keepdim=True)
    assert centre.abs().max() < 1e-5
    with pytest.raises(ValueError, match="supports at most 5"):
        collate([test[0]], max_atoms=5)


def test_random_rotations_are_proper_and_seeded():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    r = random_rotations(64, generator=g1)
    torch.testing.assert_close(r, random_rotations(64, generator=g2))
    eye = torch.eye(3).expand(64, 3, 3)
    torch.testing.assert_close(r @ r.transpose(1, 2), eye, atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(r), torch.ones(64), atol=1e-5)


def test_rotate_keeps_distances_and_padding():
    test = qm9("test")
    b = collate_arrays(test.numbers, test.positions, test.offsets, np.arange(8))
    r = rotate(b, random_rotations(8, generator=torch.Generator().manual_seed(1)))
    d0 = (b.positions[:, :, None] - b.positions[:, None]).norm(dim=-1)
    d1 = (r.positions[:, :, None] - r.positions[:, None]).norm(dim=-1)
    torch.testing.assert_close(d0, d1, atol=1e-4, rtol=0)
    assert torch.all(r.positions[~r.mask] == 0)
    torch.testing.assert_close(masked_center(r.positions, r.mask), r.positions, atol=1e-5, rtol=0)


def test_canonical_frame_is_rotation_invariant_proper_and_keeps_padding():
    from unite_mol.data import canonical_frame, random_rotation
    from unite_mol.train import MolTrainConfig

    test = qm9("test")
    b = collate_arrays(test.numbers, test.positions, test.offsets, np.arange(32))
    c = canonical_frame(b)
    # the same molecules in any orientation land in the same frame (QM9 molecules have distinct spreads)
    turned = canonical_frame(random_rotation(b, torch.Generator().manual_seed(3)))
    torch.testing.assert_close(turned.positions, c.positions, atol=1e-4, rtol=0)
    # a proper rotation of each molecule: distances and handedness (signed volumes) kept, centred, padding zero
    d0 = (b.positions[:, :, None] - b.positions[:, None]).norm(dim=-1)
    d1 = (c.positions[:, :, None] - c.positions[:, None]).norm(dim=-1)
    torch.testing.assert_close(d0, d1, atol=1e-4, rtol=0)
    vol = lambda x: torch.linalg.det(torch.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], 1))  # noqa: E731
    torch.testing.assert_close(vol(c.positions), vol(b.positions), atol=1e-3, rtol=0)
    assert torch.all(c.positions[~c.mask] == 0)
    torch.testing.assert_close(masked_center(c.positions, c.mask), c.positions, atol=1e-5, rtol=0)
    # principal axes: the spread along x >= y >= z, and no x-y-z cross terms
    m = c.mask.unsqueeze(-1).float()
    cov = (c.positions * m).transpose(1, 2) @ c.positions                     # (B, 3, 3)
    var = torch.diagonal(cov, dim1=1, dim2=2)
    assert torch.all(var[:, 0] >= var[:, 1] - 1e-4) and torch.all(var[:, 1] >= var[:, 2] - 1e-4)
    torch.testing.assert_close(cov - torch.diag_embed(var), torch.zeros_like(cov), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="unknown frame 'pca'"):
        MolTrainConfig(frame="pca")


def test_bucket_sampler_covers_and_is_deterministic():
    sizes = qm9("valid").num_atoms
    s = BucketBatchSampler(sizes, 64, seed=3, drop_last=False)
    e0 = s.epoch(0)
    assert sorted(np.concatenate(e0).tolist()) == list(range(len(sizes)))
    assert all(np.array_equal(a, b) for a, b in zip(e0, s.epoch(0)))
    assert not all(np.array_equal(a, b) for a, b in zip(e0, s.epoch(1)))
    spread = np.mean([sizes[b].max() - sizes[b].min() for b in e0])
    assert spread < 3  # bucketing keeps batches tight


def test_bonds_perceived_from_3d_recover_qm9_smiles():
    from unite_mol.data.card import smiles_recovery

    rec = smiles_recovery("test", limit=400, progress=False)
    best = max(r["match"] for r in rec.values())
    assert best >= 0.90, rec
