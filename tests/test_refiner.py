"""The geometry-aware decoder stage: refiner equivariance, padding, bond head, bond labels, init-from."""

import numpy as np
import pytest
import torch

from helpers import qm9_batch, tiny_mol_config, tiny_model
from unite_mol.core import UniteConfig, unite_loss
from unite_mol.data import random_rotations
from unite_mol.data.bond_labels import bond_matrix, compute_labels, molecule_bonds
from unite_mol.generation import build_model, generate, save_model
from unite_mol.refiner import BOND_CLASSES, GeometryRefiner, bond_loss, bonds_from_logits, pair_mask


def random_refiner(seed=0, **kw):
    torch.manual_seed(seed)
    ref = GeometryRefiner(32, layers=2, pair_width=16, bond_head=True, **kw)
    with torch.no_grad():   # leave the identity initialisation so the tests see a working stage
        for layer in ref.layers:
            layer.coef.weight.normal_(0, 0.05)
            layer.h_out.weight.normal_(0, 0.05)
    return ref


def inputs(b=3, n=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(b, n, 32, generator=g)
    x = torch.randn(b, n, 3, generator=g) * 1.5
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 5:] = False
    mask[2, 3:] = False
    return h, x * mask.unsqueeze(-1), mask


def test_fresh_refiner_is_the_identity():
    h, x, mask = inputs()
    ref = GeometryRefiner(32, layers=2, pair_width=16)
    y, logits = ref(h, x, mask)
    assert logits is None
    assert torch.allclose(y, x, atol=1e-6)


def test_refiner_is_equivariant_to_rotation_translation_and_atom_order():
    ref = random_refiner()
    h, x, mask = inputs()
    y, logits = ref(h, x, mask)
    assert not torch.allclose(y, x, atol=1e-3)          # it does move atoms
    rot = random_rotations(3, generator=torch.Generator().manual_seed(2))
    shift = torch.tensor([0.3, -1.0, 2.0])
    x2 = (torch.einsum("bnj,bij->bni", x, rot) + shift) * mask.unsqueeze(-1)
    y2, logits2 = ref(h, x2, mask)
    expect = (torch.einsum("bnj,bij->bni", y, rot) + shift) * mask.unsqueeze(-1)
    assert torch.allclose(y2, expect, atol=1e-4)
    assert torch.allclose(logits2[pair_mask(mask)], logits[pair_mask(mask)], atol=1e-4)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    full = torch.ones(1, 7, dtype=torch.bool)
    y3, logits3 = ref(h[:1, perm], x[:1, perm], full)
    assert torch.allclose(y3, y[:1, perm], atol=1e-5)
    assert torch.allclose(logits3, logits[:1][:, perm][:, :, perm], atol=1e-5)


def test_refiner_leaks_nothing_through_padding():
    ref = random_refiner()
    h, x, mask = inputs()
    y, logits = ref(h, x, mask)
    h2, x2 = h.clone(), x.clone()
    h2[~mask] = 100.0
    x2[~mask] = 7.0
    y2, logits2 = ref(h2, x2, mask)
    assert torch.allclose(y2[mask], y[mask], atol=1e-5)
    assert (y2[~mask] == 0).all()
    pm = pair_mask(mask)
    assert torch.allclose(logits2[pm], logits[pm], atol=1e-5)


def test_refiner_gradients_stop_at_padding_and_its_basis_is_the_gaussian():
    ref = random_refiner()
    h, x, mask = inputs()
    h.requires_grad_(True)
    x.requires_grad_(True)
    y, logits = ref(h, x, mask)
    (y.pow(2).sum() + logits.sin().sum()).backward()
    assert torch.isfinite(h.grad).all() and torch.isfinite(x.grad).all()
    assert (h.grad[~mask] == 0).all() and (x.grad[~mask] == 0).all() and (x.grad[mask] != 0).any()
    # the basis is exp(-gamma (d - c)^2) to float32's range, far tails (clamped below 2e-35) included
    xx = torch.randn(2, 9, 3) * 3.0
    rbf, _, _ = ref.geometry(xx, pair_mask(torch.ones(2, 9, dtype=torch.bool)))
    d = (xx[:, :, None] - xx[:, None]).pow(2).sum(-1).add(1e-12).sqrt()
    exact = torch.exp(-ref.gamma * (d.double().unsqueeze(-1) - ref.centres.double()).pow(2))
    assert torch.allclose(rbf.double(), exact, rtol=1e-5, atol=1e-34)


def test_bond_logits_are_symmetric_and_bond_rows_read_the_upper_triangle():
    ref = random_refiner()
    h, x, mask = inputs()
    _, logits = ref(h, x, mask)
    assert logits.shape == (3, 7, 7, len(BOND_CLASSES))
    assert torch.allclose(logits, logits.transpose(1, 2))
    one = torch.full((3, 3, 5), -5.0)
    one[..., 0] = 5.0
    one[0, 1, 2] = one[1, 0, 2] = 10.0     # double bond 0-1
    one[1, 2, 4] = one[2, 1, 4] = 10.0     # aromatic 1-2
    assert bonds_from_logits(one) == [(0, 1, 2), (1, 2, 4)]


def test_bond_loss_counts_each_real_pair_once():
    logits = torch.zeros(2, 4, 4, 5, requires_grad=True)
    target = torch.zeros(2, 4, 4, dtype=torch.int8)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    loss = bond_loss(logits, target, mask)
    assert loss.item() == pytest.approx(np.log(5))
    loss.backward()
    touched = logits.grad.abs().sum(-1) > 0
    assert int(touched.sum()) == 6 + 1            # i < j pairs of real atoms only
    assert not touched[1, :, 2:].any()


def test_bond_labels_of_benzene_are_aromatic():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1"))
    AllChem.EmbedMolecule(rd, randomSeed=0)
    AllChem.MMFFOptimizeMolecule(rd)
    z = np.array([a.GetAtomicNum() for a in rd.GetAtoms()])
    x = rd.GetConformer().GetPositions()
    rows = molecule_bonds(z, x)
    orders = {(int(i), int(j)): int(o) for i, j, o in rows}
    cc = [o for (i, j), o in orders.items() if z[i] == 6 and z[j] == 6]
    ch = [o for (i, j), o in orders.items() if 1 in (z[i], z[j])]
    assert cc == [4] * 6 and ch == [1] * 6
    offsets = np.array([0, len(z)])
    b_off, b_rows = compute_labels(z, x, offsets, show_progress=False)
    mat = bond_matrix(b_off, b_rows, np.array([0]), len(z) + 2)
    assert mat.shape == (1, 14, 14) and (mat[0] == mat[0].T).all() and (mat[0, 12:] == 0).all()
    assert int((mat[0] == 4).sum()) == 12


def test_refiner_model_trains_the_refiner_alone_when_detached():
    model = tiny_model(trained_like=True)
    cfg = model.adapter.config
    from dataclasses import replace

    model = build_model(model.config, replace(cfg, refine_layers=2, bond_head=True, local_weight=1.0))
    batch = qm9_batch(range(4))
    b, n = batch.mask.shape
    batch.bonds = torch.zeros(b, n, n, dtype=torch.int8)
    terms_loss, logs = unite_loss(model, batch, torch.Generator().manual_seed(0),
                                  UniteConfig(flow_copies=0, decoder_noise_prob=0.0))
    assert {"local", "coord_raw", "bond_ce"} <= set(logs)
    # the refiner's own losses alone: gradients reach the refiner, nothing upstream (detached input)
    out = model.decode(*model.encode(batch, generator=torch.Generator().manual_seed(0)))
    mask = batch.mask
    ref_only = bond_loss(out["bond_logits"], batch.bonds, mask) + out["coords"][mask].pow(2).sum()
    model.zero_grad()
    ref_only.backward()
    for name, p in model.named_parameters():
        reached = p.grad is not None and p.grad.abs().sum() > 0
        if name.startswith("adapter.refiner."):
            continue
        assert not reached, f"{name} received gradient from the detached refiner's loss"
    assert model.adapter.refiner.bond.weight.grad.abs().sum() > 0


def test_init_from_keeps_weights_and_adds_a_fresh_refiner(tmp_path):
    from unite_mol.train import init_from_saved

    model = tiny_model()
    save_model(tmp_path / "m", model)
    new, info = init_from_saved(tmp_path / "m", {"refine_layers": 2, "bond_head": True})
    own = model.state_dict()
    for k, v in new.state_dict().items():
        if k.startswith("adapter.refiner."):
            continue
        assert torch.equal(v, own[k]), k
    assert info["fresh_modules"] == ["refiner"] and len(info["sha256"]) == 64
    with pytest.raises(ValueError, match="shared_weights"):
        init_from_saved(tmp_path / "m", {}, shared_weights=False)


def test_generate_returns_the_bond_heads_bonds(tmp_path):
    model = tiny_model()
    from dataclasses import replace

    model = build_model(model.config, replace(model.adapter.config, refine_layers=1, bond_head=True))
    mols = generate(3, seed=0, model=model, num_atoms=6, sampler=dict(steps=2))
    assert all(m.properties["bonds_from"] == "model" and m.bonds is not None for m in mols)
    perceived = generate(3, seed=0, model=model, num_atoms=6, bonds="edm", sampler=dict(steps=2))
    assert all(m.properties["bonds_from"] == "edm" for m in perceived)
    for a, b in zip(mols, perceived):
        assert np.allclose(a.positions, b.positions)
    with pytest.raises(ValueError, match="bond head"):
        generate(1, model=tiny_model(), bonds="model", sampler=dict(steps=1))
    with pytest.raises(ValueError, match="unknown bonds"):
        generate(1, model=model, bonds="magic", sampler=dict(steps=1))
    with pytest.raises(ValueError, match="needs bonds"):
        generate(1, model=model, bonds=None, relax=True, sampler=dict(steps=1))
    assert tiny_mol_config().refine_layers == 0


def test_time_mixture_puts_the_asked_share_at_the_clean_end():
    from unite_mol.core import unite as unite_mod

    seen = []
    real = unite_mod.flow_loss

    def spy(x_pred, z0, z_t, t, mask):
        seen.append(t.detach().clone())
        return real(x_pred, z0, z_t, t, mask)

    model = tiny_model()
    batch = qm9_batch(range(8))
    unite_mod.flow_loss, saved = spy, unite_mod.flow_loss
    try:
        unite_loss(model, batch, torch.Generator().manual_seed(0),
                   UniteConfig(flow_copies=64, time_uniform_frac=0.5, time_uniform_min=0.9))
        unite_loss(model, batch, torch.Generator().manual_seed(0), UniteConfig(flow_copies=64))
    finally:
        unite_mod.flow_loss = saved
    mixed, plain = seen
    assert 0.45 < float((mixed > 0.9).float().mean()) < 0.6
    assert float((plain > 0.9).float().mean()) < 0.05


def test_charges_from_bonds_marks_nitro_and_leaves_aromatic_nh_neutral():
    from unite_mol.refiner import charges_from_bonds

    # nitromethane: C0-N1, N1=O2, N1-O3, C0-H4..6
    z = np.array([6, 7, 8, 8, 1, 1, 1])
    bonds = np.array([[0, 1, 1], [1, 2, 2], [1, 3, 1], [0, 4, 1], [0, 5, 1], [0, 6, 1]])
    assert charges_from_bonds(z, bonds).tolist() == [0, 1, 0, -1, 0, 0, 0]
    # pyrrole N: two aromatic bonds + N-H stays neutral
    z = np.array([7, 6, 6, 6, 6, 1])
    ring = [[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 4, 4], [0, 4, 4], [0, 5, 1]]
    assert charges_from_bonds(z, np.array(ring)).tolist() == [0] * 6
    # a radical O (one bond to carbon) is not charged away
    assert charges_from_bonds(np.array([6, 8]), np.array([[0, 1, 1]])).tolist() == [0, 0]
