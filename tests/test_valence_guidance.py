"""Valence guidance: the bond head's valence energy on hand-made molecules, and the latent search that
lowers it (only latents move, molecule by molecule, padding untouched, off by default for models
without a bond head)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from helpers import tiny_model
from unite_mol import generate
from unite_mol.generation import build_model, generate_samples
from unite_mol.sampling import ValenceGuidance


def valence_guidance(model, z, mask, ids, *, steps, **settings):
    return ValenceGuidance(**settings).descend(model, z, mask, ids, steps=steps)


def valence_nudge(model, z, mask, ids, **settings):
    return ValenceGuidance(**settings).nudge(model, z, mask, ids)[0]
from unite_mol.refiner import BOND_CLASSES

BIG = 30.0


def headed_model(seed: int = 0):
    plain = tiny_model(seed=seed)
    model = build_model(plain.config, replace(plain.adapter.config, refine_layers=1, bond_head=True))
    with torch.no_grad():   # a head that is not flat, so the energy has a slope to follow
        model.adapter.refiner.bond.weight.normal_(0, 0.5)
    return model.eval()


def bond_out(n: int, bonds: list[tuple[int, int, int]], width: int | None = None) -> dict[str, torch.Tensor]:
    """Decoder-like output whose bond head is sure of exactly ``bonds`` (class per pair, 0 elsewhere)."""
    width = width or n
    logits = torch.zeros(1, width, width, len(BOND_CLASSES))
    logits[..., 0] = BIG
    for i, j, c in bonds:
        for a, b in ((i, j), (j, i)):
            logits[0, a, b, 0], logits[0, a, b, c] = 0.0, BIG
    return {"bond_logits": logits}


def element_ids(model, numbers: list[int], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    width = width or len(numbers)
    lookup = {int(z): k for k, z in enumerate(model.adapter.config.elements)}
    ids = torch.full((1, width), model.adapter.num_elements, dtype=torch.long)
    ids[0, : len(numbers)] = torch.tensor([lookup[z] for z in numbers])
    mask = torch.zeros(1, width, dtype=torch.bool)
    mask[0, : len(numbers)] = True
    return ids, mask


def test_valence_energy_on_hand_made_molecules():
    model = headed_model()
    ad = model.adapter
    # methane: valid; without one C-H bond the carbon and that hydrogen are each one short
    ids, mask = element_ids(model, [6, 1, 1, 1, 1])
    energy, valid = ad.valence_error(bond_out(5, [(0, k, 1) for k in range(1, 5)]), ids, mask)
    assert energy.shape == valid.shape == (1,) and bool(valid) and float(energy) < 1e-6
    energy, valid = ad.valence_error(bond_out(5, [(0, k, 1) for k in range(1, 4)]), ids, mask)
    assert not bool(valid) and float(energy) == pytest.approx(2.0, abs=1e-4)
    # benzene with aromatic bonds (1.5 each) is valid; formaldehyde's C=O double bond too
    ring = [(k, (k + 1) % 6, 4) for k in range(6)] + [(k, k + 6, 1) for k in range(6)]
    ids, mask = element_ids(model, [6] * 6 + [1] * 6)
    energy, valid = ad.valence_error(bond_out(12, ring), ids, mask)
    assert bool(valid) and float(energy) < 1e-6
    ids, mask = element_ids(model, [6, 8, 1, 1])
    energy, valid = ad.valence_error(bond_out(4, [(0, 1, 2), (0, 2, 1), (0, 3, 1)]), ids, mask)
    assert bool(valid) and float(energy) < 1e-6
    # a charged nitrogen (four bonds) is not valid by EDM's valences, as in the stability metric
    ids, mask = element_ids(model, [7, 1, 1, 1, 1])
    energy, valid = ad.valence_error(bond_out(5, [(0, k, 1) for k in range(1, 5)]), ids, mask)
    assert not bool(valid) and float(energy) == pytest.approx(1.0, abs=1e-4)


def test_valence_energy_counts_aromatic_systems_in_their_kekule_structure():
    model = headed_model()
    ad = model.adapter
    # furan: the oxygen's two aromatic bonds are 3 by 1.5 each, 2 in the kekulé structure (a pi donor)
    furan = [(k, (k + 1) % 5, 4) for k in range(5)] + [(k, k + 4, 1) for k in range(1, 5)]
    ids, mask = element_ids(model, [8, 6, 6, 6, 6, 1, 1, 1, 1])
    energy, valid = ad.valence_error(bond_out(9, furan), ids, mask)
    assert bool(valid) and float(energy) < 1e-6
    energy, valid = ad.valence_error(bond_out(9, furan), ids, mask, kekule=False)
    assert not bool(valid) and float(energy) == pytest.approx(1.0, abs=1e-4)
    # cyclopentadienyl (five aromatic CH) is right by 1.5 per aromatic bond but has no kekulé structure
    cp = [(k, (k + 1) % 5, 4) for k in range(5)] + [(k, k + 5, 1) for k in range(5)]
    ids, mask = element_ids(model, [6] * 5 + [1] * 5)
    assert not bool(ad.valence_error(bond_out(10, cp), ids, mask)[1])
    assert bool(ad.valence_error(bond_out(10, cp), ids, mask, kekule=False)[1])


def test_valence_energy_ignores_padded_slots():
    model = headed_model()
    ids, mask = element_ids(model, [6, 1, 1, 1, 1], width=8)
    out = bond_out(5, [(0, k, 1) for k in range(1, 5)], width=8)
    out["bond_logits"][0, 5:, :, 1] = BIG      # padded slots claim bonds to everything: must not count
    out["bond_logits"][0, :, 5:, 1] = BIG
    energy, valid = model.adapter.valence_error(out, ids, mask)
    assert bool(valid) and float(energy) < 1e-6


def test_valence_energy_needs_a_bond_head():
    model = tiny_model()
    ids, mask = element_ids(model, [6, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="bond head"):
        model.adapter.valence_error({"logits": torch.zeros(1, 5, 5)}, ids, mask)


def random_latents(model, counts: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    width = max(counts)
    z = torch.zeros(len(counts), width, model.config.latent_dim)
    mask = torch.zeros(len(counts), width, dtype=torch.bool)
    for r, k in enumerate(counts):
        z[r, :k] = torch.randn(k, model.config.latent_dim, generator=g)
        mask[r, :k] = True
    with torch.no_grad():
        ids = model.decode(z, mask)["logits"].argmax(-1)
    return z, mask, ids


def test_guidance_lowers_the_energy_and_moves_only_real_latents():
    model = headed_model()
    z, mask, ids = random_latents(model, [9, 6, 12])
    with torch.no_grad():
        before, _ = model.adapter.valence_error(model.decode(z, mask), ids, mask)
    moved = valence_guidance(model, z, mask, ids, steps=25, lr=0.05)
    with torch.no_grad():
        after, _ = model.adapter.valence_error(model.decode(moved, mask), ids, mask)
    assert (after < before).all(), (before, after)
    assert torch.equal(moved[~mask], z[~mask])              # padded slots untouched
    assert (moved - z)[mask].abs().sum() > 0
    assert torch.equal(valence_guidance(model, z, mask, ids, steps=0), z)
    assert not any(p.grad is not None for p in model.parameters())   # weights are not trained by it


def test_guidance_of_a_molecule_does_not_depend_on_its_batch():
    model = headed_model()
    z, mask, ids = random_latents(model, [9, 6, 12], seed=1)
    together = valence_guidance(model, z, mask, ids, steps=10, lr=0.05)
    alone = valence_guidance(model, z[1:2, :6], mask[1:2, :6], ids[1:2, :6], steps=10, lr=0.05)
    assert torch.allclose(together[1, :6], alone[0], atol=1e-5)


def test_nudge_is_one_bounded_step_down_the_energy_for_invalid_molecules_only():
    model = headed_model()
    z, mask, ids = random_latents(model, [9, 6, 12], seed=2)
    with torch.no_grad():
        before, _ = model.adapter.valence_error(model.decode(z, mask), ids, mask)
    small = valence_nudge(model, z, mask, ids, step=1e-3)
    with torch.no_grad():
        after, _ = model.adapter.valence_error(model.decode(small, mask), ids, mask)
    assert (after < before).all(), (before, after)                 # a small step goes downhill
    moved = valence_nudge(model, z, mask, ids, step=0.1)
    assert torch.equal(moved[~mask], z[~mask])                      # padding untouched
    assert (moved - z).abs().max() <= 0.1 + 1e-6                    # no channel moves more than the step
    sign = valence_nudge(model, z, mask, ids, step=0.1, softness=0.0)
    assert torch.allclose((sign - z)[mask].abs(), torch.full_like(z[mask], 0.1), atol=1e-6)   # softness 0: sign step
    assert (moved - z)[mask].abs().mean() < (sign - z)[mask].abs().mean()    # softness shrinks small-gradient moves
    alone = valence_nudge(model, z[1:2, :6], mask[1:2, :6], ids[1:2, :6], step=0.1)
    assert torch.allclose(moved[1, :6], alone[0], atol=1e-6)        # per molecule, not per batch
    assert not any(p.grad is not None for p in model.parameters()) and all(p.requires_grad for p in model.parameters())


def test_nudge_leaves_molecules_whose_bonds_are_valid(monkeypatch):
    model = headed_model()
    z, mask, ids = random_latents(model, [9, 6], seed=3)
    real = model.adapter.valence_error

    def first_is_valid(out, ids_, mask_):
        energy, valid = real(out, ids_, mask_)
        return energy * torch.tensor([0.0, 1.0]), torch.tensor([True, False])

    monkeypatch.setattr(model.adapter, "valence_error", first_is_valid)
    moved = valence_nudge(model, z, mask, ids)
    assert torch.equal(moved[0], z[0]) and not torch.equal(moved[1], z[1])


def test_generate_with_valence_guidance():
    model = headed_model()
    plain = generate(3, seed=0, model=model, num_atoms=7, progress=False, sampler=dict(steps=3, valence_steps=0))
    guided = generate(3, seed=0, model=model, num_atoms=7, progress=False, sampler=dict(steps=3, valence_steps=5))
    assert "valence guidance 5 steps" in guided[0].properties["sampler"]
    assert "valence" not in plain[0].properties["sampler"]
    assert any(not np.allclose(a.positions, b.positions) for a, b in zip(plain, guided))
    # the same seed gives the same guided molecules
    again = generate_samples(model, 3, seed=0, num_atoms=7, sampler=dict(steps=3, valence_steps=5))
    for m, (zz, x, _) in zip(guided, again):
        assert np.allclose(m.positions, x)
    with pytest.raises(ValueError, match="bond head"):
        generate(1, model=tiny_model(), progress=False, sampler=dict(steps=1, valence_steps=3))
    with pytest.raises(ValueError, match="valence_steps"):
        generate(1, model=model, progress=False, sampler=dict(steps=1, valence_steps=-1))


def test_cli_valence_steps(tmp_path, capsys):
    from unite_mol.__main__ import main
    from unite_mol.generation import save_model
    from unite_mol.io import read

    save_model(tmp_path / "headed", headed_model())
    save_model(tmp_path / "plain", tiny_model())
    out = tmp_path / "v.sdf"
    assert main(["generate", "--n", "2", "--model", str(tmp_path / "headed"), "--steps", "2", "--num-atoms", "6",
                 "--valence-steps", "3", "--valence-from", "0.5", "--out", str(out)]) == 0
    assert len(read(out)) == 2
    bad = tmp_path / "never.sdf"
    assert main(["generate", "--n", "2", "--model", str(tmp_path / "plain"), "--steps", "2",
                 "--valence-steps", "3", "--out", str(bad)]) == 2
    assert "bond head" in capsys.readouterr().err and not bad.exists()


def test_refined_prediction_is_the_next_estimate():
    from helpers import conditioned_model

    model = conditioned_model("slot_features")
    z, mask, _ = random_latents(model, [5, 7])
    t = torch.full((2,), 0.5)
    seen = []

    def refine(x, tt):
        seen.append(float(tt[0]))
        return x * 0.5
    f = model.sampling_denoiser(mask, refine=refine)
    with torch.no_grad():
        first = f(z, t)
        second = f(z, t)
        plain = model.denoise(z, t, mask)
        expected = model.denoise(z, t, mask, estimate=first) * 0.5
    assert seen == [0.5, 0.5]
    assert torch.allclose(first, plain * 0.5, atol=1e-6)       # the returned prediction is the refined one
    assert torch.allclose(second, expected, atol=1e-6)         # and the next call reads it as its estimate


def test_valence_guidance_during_sampling():
    model = headed_model()
    kw = dict(seed=0, model=model, num_atoms=7, progress=False)
    end = generate(2, sampler=dict(steps=4, valence_steps=3, valence_from=1.0), **kw)
    during = generate(2, sampler=dict(steps=4, valence_steps=3, valence_from=0.5), **kw)
    assert during[0].properties["sampler"].endswith("valence guidance 3 steps, one valence step per prediction "
                                                     "for t >= 0.5")
    assert any(not np.allclose(a.positions, b.positions) for a, b in zip(end, during))
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="valence_from"):
            generate(1, model=model, progress=False, sampler=dict(steps=1, valence_from=bad))


def test_nudges_leave_molecules_done_at_an_earlier_nudge(monkeypatch):
    model = headed_model()
    seen = []
    real = ValenceGuidance.nudge

    def nudge(self, model, z, mask, ids):     # the 6-atom molecules are done from their first nudge on
        z, _ = real(self, model, z, mask, ids)
        seen.append(sorted(mask.sum(1).tolist()))
        return z, mask.sum(1) == 6

    monkeypatch.setattr(ValenceGuidance, "nudge", nudge)
    generate_samples(model, 4, seed=1, num_atoms=[6, 7, 6, 8], sampler=dict(steps=6, valence_steps=1, valence_from=0.5))
    # t >= 0.5 at 3 of the 6 predictions: all four molecules at the first, then only the 7- and 8-atom ones
    assert seen == [[6, 6, 7, 8], [7, 8], [7, 8]]


def test_parallel_batches_give_the_same_molecules_as_one_thread():
    """Two threads run two batches side by side, one thread each: the same numbers as one thread doing
    them in turn (each batch's arithmetic is the same), with and without guidance during sampling."""
    model = headed_model()
    kw = dict(seed=5, sampler=dict(steps=3, batch_size=2, precision="fp32", valence_steps=2, valence_from=0.5))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = generate_samples(model, 7, **kw)
        torch.set_num_threads(2)
        two = generate_samples(model, 7, **kw)
        assert torch.get_num_threads() == 2      # restored after the workers
    finally:
        torch.set_num_threads(before)
    for (za, xa, ba), (zb, xb, bb) in zip(one, two):
        assert np.array_equal(za, zb) and np.array_equal(xa, xb) and np.array_equal(ba, bb)


def test_restarts_rerun_only_molecules_guidance_leaves_not_done(monkeypatch):
    model = headed_model()
    S = dict(steps=6, valence_steps=2, valence_from=0.5, precision="fp32", batch_size=4)
    kw = dict(seed=3, num_atoms=[5, 7, 6, 7])
    plain = generate_samples(model, 4, sampler=S, **kw)
    calls = []

    def verdict(done_sizes):     # the molecules of these atom counts are done
        def finished(self, model, out, mask, ids):
            calls.append(mask.sum(1).tolist())
            return torch.tensor([int(k) in done_sizes for k in mask.sum(1)])
        return finished

    # every molecule done: restarts change nothing (and the verdict is asked once)
    monkeypatch.setattr(ValenceGuidance, "done", verdict([5, 6, 7]))
    same = generate_samples(model, 4, sampler=dict(S, restarts=2), **kw)
    assert len(calls) == 1
    for a, b in zip(plain, same):
        assert np.array_equal(a[1], b[1])
    # the 5- and 6-atom molecules not done: only they change, restarted twice
    calls.clear()
    monkeypatch.setattr(ValenceGuidance, "done", verdict([7]))
    again = generate_samples(model, 4, sampler=dict(S, restarts=2), **kw)
    assert len(calls) == 2
    changed = [not np.array_equal(a[1], b[1]) for a, b in zip(plain, again)]
    assert changed == [True, False, True, False]
    # each molecule's restarts draw from its own stream: the same molecules one per batch (to float rounding,
    # which guidance's sign-like steps on this untrained head grow to ~4e-4; another stream would move atoms
    # by ~1)
    single = generate_samples(model, 4, sampler=dict(S, restarts=2, batch_size=1), **kw)
    for a, b in zip(again, single):
        np.testing.assert_allclose(a[1], b[1], atol=2e-3)


def test_restart_arguments():
    model = headed_model()
    kw = dict(seed=0, model=model, num_atoms=6, progress=False)
    S = dict(steps=4, valence_steps=1)
    mols = generate(2, sampler=dict(S, restarts=1, restart_from=0.75), **kw)
    assert mols[0].properties["sampler"].endswith(", 1 restart from t = 0.75")
    assert "restart" not in generate(1, sampler=dict(S, restarts=0), **kw)[0].properties["sampler"]
    assert "restart" not in generate(1, sampler=dict(S, restarts=1, valence_steps=0), **kw)[0].properties["sampler"]
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="restarts"):
            generate(1, model=model, progress=False, sampler=dict(steps=1, restarts=bad))
    for bad in (0.0, 1.0, float("nan"), True):
        with pytest.raises(ValueError, match="restart_from"):
            generate(1, model=model, progress=False, sampler=dict(steps=1, restart_from=bad))
