"""The composition condition: the denoising pass told each molecule's element counts (drawn from the
training data's compositions when sampling)."""

import numpy as np
import pytest
import torch

from helpers import conditioned_model, qm9_batch
from unite_mol.core import UniteConfig
from unite_mol.core.unite import unite_terms
from unite_mol.generation import generate, load_model, save_model
from unite_mol.sampling.draws import composition_weights
from unite_mol.molecular import MoleculeConfig


def composition_model(*, silent: bool = False, seed: int = 0):
    return conditioned_model("cond_features", silent=silent, seed=seed)


def test_composition_table_counts_each_molecules_elements():
    numbers = np.array([6, 1, 1, 1, 1, 8, 1, 1, 6, 1, 1, 1, 1])          # CH4, H2O, CH4
    offsets = np.array([0, 5, 8, 13])
    table = MoleculeConfig.composition_table(numbers, offsets, (1, 6, 7, 8, 9))
    assert table == ((2, 0, 0, 1, 0, 1), (4, 1, 0, 0, 0, 2))
    with pytest.raises(ValueError, match="composition_hist rows"):
        MoleculeConfig(elements=(1, 6), max_atoms=5, composition_hist=((2, 1),))
    with pytest.raises(ValueError, match="composition_hist rows"):
        MoleculeConfig(elements=(1, 6), max_atoms=5, composition_hist=((4, 2, 1),))       # 6 atoms > 5


def test_condition_is_the_batch_composition_and_ignores_padding_and_order():
    model = composition_model()
    batch = qm9_batch(range(4))
    tokens = model.adapter.embed(batch)
    want = torch.stack([torch.tensor([(batch.numbers[b][batch.mask[b]] == z).sum() for z in (1, 6, 7, 8, 9)])
                        for b in range(4)]).float() / 10
    torch.testing.assert_close(tokens.cond_vec, want)
    perm = torch.randperm(batch.numbers.shape[1], generator=torch.Generator().manual_seed(0))
    shuffled = type(batch)(batch.numbers[:, perm], batch.positions[:, perm], batch.mask[:, perm])
    torch.testing.assert_close(model.adapter.embed(shuffled).cond_vec, want)


def test_condition_starts_silent_then_steers_the_denoiser_and_trains_through_the_flow_loss_only():
    silent = composition_model(silent=True)
    batch = qm9_batch(range(4))
    z, mask = silent.encode(batch, generator=torch.Generator().manual_seed(0))
    t = torch.full((4,), 0.5)
    cond = silent.adapter.embed(batch).cond_vec
    with torch.no_grad():
        assert torch.equal(silent.denoise(0.5 * z, t, mask, cond_vec=cond), silent.denoise(0.5 * z, t, mask))
    model = composition_model()
    with torch.no_grad():
        a = model.denoise(0.5 * z, t, mask, cond_vec=cond)
        b = model.denoise(0.5 * z, t, mask, cond_vec=cond.flip(0))
    assert (a - b).abs().max() > 1e-3
    # the tokenization pass does not read the condition (null condition, as in UNITE)
    with torch.no_grad():
        z2, _ = model.encode(batch, generator=torch.Generator().manual_seed(0))
        model.ge.cond_in.weight.zero_()
        z3, _ = model.encode(batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z2, z3)
    model = composition_model().train()
    terms = unite_terms(model, batch, torch.Generator().manual_seed(0), UniteConfig(flow_copies=2))
    model.zero_grad()
    terms["flow"].backward()
    assert model.ge.cond_in.weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for n, p in model.named_parameters()
               if n.startswith(("decoder.", "adapter.")))      # stop-gradient on the clean latents


def test_sampling_draws_data_compositions_deterministically_and_round_trips(tmp_path):
    model = composition_model()
    save_model(tmp_path / "m", model)
    back = load_model(tmp_path / "m")
    assert back.adapter.config.composition_hist == model.adapter.config.composition_hist
    assert back.config.cond_features == 5
    a = generate(6, model=back, seed=2, progress=False, bonds=None, sampler=dict(steps=3))
    b = generate(6, model=str(tmp_path / "m"), seed=2, progress=False, bonds=None, sampler=dict(steps=3))
    assert all(np.array_equal(x.positions, y.positions) and np.array_equal(x.numbers, y.numbers) for x, y in zip(a, b))
    table = torch.tensor(model.adapter.config.composition_hist)
    sizes = set(table[:, :-1].sum(1).tolist())
    assert all(len(m.numbers) in sizes for m in a)
    nine = generate(3, model=back, seed=0, num_atoms=9, progress=False, bonds=None, sampler=dict(steps=2))
    assert all(len(m.numbers) == 9 for m in nine)
    with pytest.raises(ValueError, match="2 atoms requested; no composition"):
        composition_weights(table, model.adapter.config.elements, num_atoms=2)
