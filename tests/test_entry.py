"""One path for every entry (unite_mol.core.entry): the fairness of the bench's comparisons, as tests.

The two-stage denoiser is trained on the batch's class ids (as UNITE's is), every entry of a bench
augments each step's batch once with the same function, and equal-compute accounting covers both stages.
"""

import json

import pytest
import torch

from test_images import fake_fashion_mnist
from unite_mol.core import ENTRIES, UniteConfig, UniteModel
from unite_mol.images.adapter import ImageAdapter


def test_two_stage_image_denoiser_sees_the_batch_class_ids(tmp_path, monkeypatch):
    from unite_mol.images.train import main

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    fake_fashion_mnist(tmp_path, monkeypatch, 16)
    events = []  # ("labels", ...) from the adapter, ("cond", ...) from the denoiser, in call order
    embed, denoise = ImageAdapter.embed, UniteModel.denoise

    def spy_embed(self, batch):
        events.append(("labels", batch.labels.clone()))
        return embed(self, batch)

    def spy_denoise(self, z_t, t, mask, cond=None, **kw):
        if torch.is_grad_enabled():  # training (sampling for the checkpoint grids runs without gradients)
            events.append(("cond", None if cond is None else cond.clone(), self.ge.null_condition))
        return denoise(self, z_t, t, mask, cond, **kw)

    monkeypatch.setattr(ImageAdapter, "embed", spy_embed)
    monkeypatch.setattr(UniteModel, "denoise", spy_denoise)
    run = tmp_path / "run"
    assert main(["--run-dir", str(run), "--two-stage", "--batch-size", "8", "--steps", "2", "--ckpt-every", "2"]) == 0
    seen = 0
    for k, ev in enumerate(events):
        if ev[0] != "cond":
            continue
        labels = next(e[1] for e in reversed(events[:k]) if e[0] == "labels")  # the batch this step embedded
        cond, null = ev[1], ev[2]
        assert cond is not None, "the two-stage denoiser was trained on the null class only"
        expect = labels.repeat(len(cond) // len(labels))
        assert ((cond == expect) | (cond == null)).all()        # the batch's classes, some dropped (guidance)
        assert (cond == expect).float().mean() > 0.5
        seen += 1
    assert seen >= 2   # stage 2's steps (and its FLOPs count); stage 1 (the VAE) has no denoiser


def test_every_bench_entry_augments_each_step_once_with_the_same_function(tmp_path, monkeypatch):
    from unite_mol import data as mol_data
    from unite_mol.bench.qm9 import Preset
    from unite_mol.bench.qm9_train import train_entry

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    calls = []
    rotation = mol_data.random_rotation

    def spy(batch, generator):
        calls.append(len(batch))
        return rotation(batch, generator)

    monkeypatch.setattr(mol_data, "random_rotation", spy)
    preset = Preset("test", "GE-T", budget_s=0.4, batch_size=4, samples=4, recon=4, steps=2)
    per_step = {}
    for entry in ENTRIES:
        calls.clear()
        _, summary = train_entry(entry, preset, tmp_path / entry, 0)
        record = json.loads((tmp_path / entry / "entry.json").read_text())
        assert all(s["steps"] >= 1 for s in record["stages"]), entry      # both stages of the baseline trained
        assert summary["steps"] == sum(s["steps"] for s in record["stages"])
        assert summary["flops"] == pytest.approx(sum(s["flops"] for s in record["stages"]))
        per_step[entry] = len(calls) / summary["steps"]
        assert set(calls) == {4}
    assert per_step == {e: 1.0 for e in ENTRIES}   # the baseline used to train without rotations


def test_equal_compute_accounting_covers_both_stages(tmp_path, monkeypatch):
    from unite_mol.images.train import main

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    fake_fashion_mnist(tmp_path, monkeypatch, 16)
    run = tmp_path / "run"
    assert main(["--run-dir", str(run), "--two-stage", "--batch-size", "8", "--steps", "2", "--ckpt-every", "2"]) == 0
    record = json.loads((run / "entry.json").read_text())
    assert [s["name"] for s in record["stages"]] == ["stage1", "stage2"]
    s1, s2 = record["stages"]
    assert s1["flops_per_step"] > 0 and s2["flops_per_step"] > 0 and s1["flops_per_step"] != s2["flops_per_step"]
    assert s1["steps"] == s2["steps"] == 2 and record["steps"] == 4
    assert record["flops"] == pytest.approx(2 * s1["flops_per_step"] + 2 * s2["flops_per_step"])
    assert record["objective"]["cond_dropout"] == UniteConfig().cond_dropout   # UNITE's condition dropout
    assert (run / "model.pt").is_file() and (run / "stage2" / "samples.png").is_file()


def test_molecule_cli_trains_the_two_stage_baseline_through_the_same_path(tmp_path, monkeypatch):
    from unite_mol.generation import load_model
    from unite_mol.train import main

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    run = tmp_path / "run"
    common = ["--run-dir", str(run), "--preset", "GE-T", "--batch-size", "4", "--steps", "1", "--warmup", "1"]
    assert main([*common, "--two-stage", "--init-from", str(tmp_path / "x")]) == 2
    assert main([*common, "--two-stage", "--no-stop-grad"]) == 2
    assert main([*common, "--two-stage", "--ckpt-every", "1"]) == 0
    record = json.loads((run / "entry.json").read_text())
    assert record["entry"] == "two-stage" and record["augmentation"] == "random_rotation"
    assert [s["steps"] for s in record["stages"]] == [1, 1] and record["flops"] > 0
    model = load_model(run / "model")
    assert model.vae and model.meta["training"]["entry"] == "two-stage"


def test_flops_per_step_are_the_mean_over_batches_spread_over_the_epoch():
    from helpers import qm9_batch, tiny_model
    from unite_mol.core.entry import count_step_flops, mean_step_flops
    from unite_mol.core.unite import unite_loss

    model = tiny_model()
    loss = lambda m, b, g: unite_loss(m, b, g, UniteConfig())  # noqa: E731
    small, large = qm9_batch(range(2)), qm9_batch(range(8))
    one = [count_step_flops(model, loss, b) for b in (small, large)]
    assert one[1] > one[0]                                   # a bigger batch costs more: one batch is a biased count
    epoch = [small, small, small, large, large]              # picks batches 0, 1, 3 and 4 (evenly spread)
    assert mean_step_flops(model, loss, epoch) == pytest.approx((2 * one[0] + 2 * one[1]) / 4)
    assert mean_step_flops(model, loss, [large]) == pytest.approx(one[1])
    assert all(p.grad is None for p in model.parameters())   # counting leaves no gradients behind


def test_bench_preset_latent_norm_switch_reaches_the_unite_objective_only(tmp_path, monkeypatch):
    from unite_mol.bench.qm9 import Preset
    from unite_mol.bench.qm9_train import train_entry

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    preset = Preset("test", "GE-T", budget_s=0.3, batch_size=4, samples=4, recon=4, steps=2, latent_norm_stop_grad=True)
    train_entry("unite", preset, tmp_path / "u", 0)
    record = json.loads((tmp_path / "u" / "entry.json").read_text())
    assert record["objective"]["latent_norm_stop_grad"] is True
    preset = Preset("test", "GE-T", budget_s=0.3, batch_size=4, samples=4, recon=4, steps=2)
    train_entry("unite", preset, tmp_path / "d", 0)
    assert json.loads((tmp_path / "d" / "entry.json").read_text())["objective"]["latent_norm_stop_grad"] is False
    # the scored model is kept as a model file that loads back with the same objective recorded
    from unite_mol import load_model
    assert load_model(tmp_path / "u" / "model").meta["training"]["objective"]["latent_norm_stop_grad"] is True
