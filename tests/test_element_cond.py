"""The per-atom element condition: the denoising pass told each atom's element (one-hot, added to its
latent slot); when sampling, compositions are drawn from the training data's and the atoms keep them."""

import numpy as np
import pytest
import torch

from helpers import conditioned_model, qm9_batch, tiny_mol_config
from unite_mol.core import UniteConfig, preset
from unite_mol.core.unite import unite_terms
from unite_mol.generation import build_model, generate, load_model, save_model
from unite_mol.io import read

ELEMENTS = (1, 6, 7, 8, 9)


def element_model(*, silent: bool = False, seed: int = 0):
    return conditioned_model("slot_features", silent=silent, seed=seed)


def test_slot_condition_is_each_atoms_element_zero_at_padding_and_follows_atom_order():
    model = element_model()
    batch = qm9_batch(range(4))
    slot = model.adapter.embed(batch).slot_vec                                     # (B, N, V)
    assert slot.shape == (*batch.mask.shape, len(ELEMENTS))
    assert torch.equal(slot.sum(-1), batch.mask.float())                          # one-hot on atoms, zero at padding
    z_of_slot = torch.tensor(ELEMENTS)[slot.argmax(-1)]
    assert torch.equal(z_of_slot[batch.mask], batch.numbers[batch.mask])
    assert model.adapter.embed(batch).cond_vec is None                            # no composition condition here
    perm = torch.randperm(batch.numbers.shape[1], generator=torch.Generator().manual_seed(0))
    shuffled = type(batch)(batch.numbers[:, perm], batch.positions[:, perm], batch.mask[:, perm])
    assert torch.equal(model.adapter.embed(shuffled).slot_vec, slot[:, perm])


def test_denoiser_with_slot_condition_is_atom_order_equivariant_and_blind_to_padding():
    model = element_model()
    batch = qm9_batch(range(4))
    slot = model.adapter.embed(batch).slot_vec
    z, mask = model.encode(batch, generator=torch.Generator().manual_seed(0))
    z_t, t = 0.5 * z, torch.full((4,), 0.5)
    with torch.no_grad():
        out = model.denoise(z_t, t, mask, slot_vec=slot)
        perm = torch.randperm(mask.shape[1], generator=torch.Generator().manual_seed(1))
        out_p = model.denoise(z_t[:, perm], t, mask[:, perm], slot_vec=slot[:, perm])
        torch.testing.assert_close(out_p, out[:, perm], atol=1e-5, rtol=1e-5)
        junk = slot + 5.0 * (~mask).unsqueeze(-1) * torch.randn(slot.shape, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(model.denoise(z_t, t, mask, slot_vec=junk), out, atol=1e-6, rtol=1e-6)


def test_slot_condition_starts_silent_then_steers_and_trains_through_the_flow_loss_only():
    silent = element_model(silent=True)
    batch = qm9_batch(range(4))
    z, mask = silent.encode(batch, generator=torch.Generator().manual_seed(0))
    t = torch.full((4,), 0.5)
    slot = silent.adapter.embed(batch).slot_vec
    with torch.no_grad():
        assert torch.equal(silent.denoise(0.5 * z, t, mask, slot_vec=slot), silent.denoise(0.5 * z, t, mask))
    model = element_model()
    with torch.no_grad():
        a = model.denoise(0.5 * z, t, mask, slot_vec=slot)
        b = model.denoise(0.5 * z, t, mask, slot_vec=slot.roll(1, dims=-1) * mask.unsqueeze(-1))
        assert (a - b).abs().max() > 1e-3
        z2, _ = model.encode(batch, generator=torch.Generator().manual_seed(0))
        model.ge.slot_in.weight.zero_()                                           # the tokenization pass ignores it
        z3, _ = model.encode(batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z2, z3)
    model = element_model().train()
    terms = unite_terms(model, batch, torch.Generator().manual_seed(0), UniteConfig(flow_copies=2))
    model.zero_grad()
    terms["flow"].backward()
    assert model.ge.slot_in.weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for n, p in model.named_parameters()
               if n.startswith(("decoder.", "adapter.")))      # stop-gradient on the clean latents


def test_samples_keep_the_drawn_elements_deterministically_and_round_trip(tmp_path):
    model = element_model()
    save_model(tmp_path / "m", model)
    back = load_model(tmp_path / "m")
    assert back.config.slot_features == 5 and back.config.cond_features == 0
    a = generate(6, model=back, seed=2, progress=False, bonds=None, sampler=dict(steps=3))
    b = generate(6, model=str(tmp_path / "m"), seed=2, progress=False, bonds=None, sampler=dict(steps=3))
    assert all(np.array_equal(x.positions, y.positions) and np.array_equal(x.numbers, y.numbers) for x, y in zip(a, b))
    table = {tuple(r[:-1]) for r in model.adapter.config.composition_hist}
    assert all(tuple(int((m.numbers == z).sum()) for z in ELEMENTS) in table for m in a)


def test_element_condition_needs_the_data_compositions():
    cfg = tiny_mol_config()
    with pytest.raises(ValueError, match="composition_hist"):
        build_model(preset("GE-T", slot_features=len(cfg.elements)), cfg)
    with pytest.raises(ValueError, match="one feature per element"):
        build_model(preset("GE-T", slot_features=3), cfg)


def test_formula_fixes_every_samples_atoms_and_bad_formulas_are_named(tmp_path):
    model = element_model()
    mols = generate(3, model=model, seed=0, formula="C4H10O", progress=False, bonds=None, sampler=dict(steps=2))
    assert all(m.formula == "C4H10O" for m in mols)
    assert generate(1, model=model, seed=0, formula="CH3CH2OH", progress=False, bonds=None, sampler=dict(steps=2))[0].formula \
        == "C2H6O"
    for bad, match in [("C4H10Cl", "does not know"), ("C30H2", "training molecules have"), ("c4h10", "malformed"),
                       ("Qq", "unknown element")]:
        with pytest.raises(ValueError, match=match):
            generate(1, model=model, formula=bad, progress=False, bonds=None, sampler=dict(steps=2))
    with pytest.raises(ValueError, match="not both"):
        generate(1, model=model, formula="CH4", num_atoms=5, progress=False, bonds=None, sampler=dict(steps=2))
    plain = build_model(preset("GE-T"), tiny_mol_config())
    with pytest.raises(ValueError, match="told the composition"):
        generate(1, model=plain, formula="CH4", progress=False, bonds=None, sampler=dict(steps=2))
    out = tmp_path / "f.xyz"
    save_model(tmp_path / "m", model)
    from unite_mol.__main__ import main
    assert main(["generate", "--n", "2", "--model", str(tmp_path / "m"), "--formula", "C2H6O", "--steps", "2",
                 "--bonds", "none", "--out", str(out)]) == 0
    assert [m.formula for m in read(out)] == ["C2H6O", "C2H6O"]


def test_benchmark_rows_of_conditioned_models_say_so():
    from unite_mol.bench.qm9 import conditioning_label

    assert "element-conditioned" in conditioning_label(element_model())
    assert conditioning_label(build_model(preset("GE-T"), tiny_mol_config())) == ""
