"""The image ablation arms (issue 30): each flag reaches the objective, survives a resume, and runs leave curves."""

import json

import pytest
import torch

from unite_mol.core import UniteConfig, unite_loss, unite_terms
from unite_mol.images.adapter import ImageBatch, build_image_model

from image_helpers import fake_fashion_mnist


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageBatch(torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.arange(n) % 10)


def trained_like(model):
    """adaLN-zero layers given small random weights: at their zero start every block is the identity, the
    latent slots never read the patches, and every gradient test below would pass vacuously."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ada." in name:
                p.normal_(0, 0.2)
    return model


def reached(params) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)


@pytest.mark.parametrize("shared", [True, False])
def test_flow_weight_zero_is_the_tokenizer_alone(monkeypatch, shared):
    model = trained_like(build_image_model("IM-T", shared_weights=shared))
    calls = []
    denoise = model.denoise
    monkeypatch.setattr(model, "denoise", lambda *a, **k: calls.append(1) or denoise(*a, **k))
    loss, logs = unite_loss(model, batch(), torch.Generator().manual_seed(0),
                            UniteConfig(flow_weight=0.0, shared_weights=shared))
    assert calls == [] and "flow" not in logs               # no denoising pass at all, so no gradient from one
    assert float(loss.detach()) == pytest.approx(logs["recon"], rel=1e-6)
    loss.backward()
    if not shared:
        assert all(p.grad is None for p in model.ge_denoise.parameters())
    model.zero_grad(set_to_none=True)
    loss, logs = unite_loss(model, batch(), torch.Generator().manual_seed(0), UniteConfig(shared_weights=shared))
    loss.backward()                                          # weight 1: the same model does run and train it
    assert calls and "flow" in logs and reached(model.denoiser.parameters())


@pytest.mark.parametrize("shared", [True, False])
def test_stop_grad_holds_and_no_stop_grad_lets_the_flow_reach_the_tokenization_pass(shared):
    for stop_grad in (True, False):
        model = trained_like(build_image_model("IM-T", shared_weights=shared))
        terms = unite_terms(model, batch(), torch.Generator().manual_seed(0),
                            UniteConfig(stop_grad=stop_grad, shared_weights=shared))
        terms["flow"].backward()
        tokenizer_only = [model.adapter.patch.weight] + ([] if shared else list(model.ge.parameters()))
        assert reached(tokenizer_only) == (not stop_grad), stop_grad
        assert reached(model.denoiser.parameters())


def test_decoder_noise_prob_zero_decodes_the_clean_latent():
    model = trained_like(build_image_model("IM-T"))
    for prob, same in ((0.0, True), (1.0, False)):
        terms = unite_terms(model, batch(), torch.Generator().manual_seed(0), UniteConfig(decoder_noise_prob=prob))
        with torch.no_grad():
            clean = model.decode(terms["z0"], torch.ones(4, 49, dtype=torch.bool))["pixels"]
        assert torch.allclose(terms["outputs"]["pixels"].detach(), clean, atol=1e-6) == same, prob


def test_config_refuses_flags_that_do_not_apply():
    from unite_mol.images.train_config import ImageTrainConfig

    assert ImageTrainConfig(flow_weight=0.0, stop_grad=False).entry == "unite-no-stopgrad"
    assert ImageTrainConfig(shared_weights=False).entry == "unite-separate"
    assert ImageTrainConfig(two_stage=True, kl_weight=0.01).entry == "two-stage"
    with pytest.raises(ValueError, match="--flow-weight does not apply to the two-stage"):
        ImageTrainConfig(two_stage=True, flow_weight=0.0)
    with pytest.raises(ValueError, match="--kl-weight does not apply to UNITE"):
        ImageTrainConfig(kl_weight=0.01)
    with pytest.raises(ValueError, match="decoder_noise_prob must be in"):
        ImageTrainConfig(decoder_noise_prob=1.5)


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    import unite_mol.images.sample as sample

    (tmp_path / "fmnist").mkdir()
    fake_fashion_mnist(tmp_path / "fmnist", monkeypatch, 32)
    monkeypatch.setattr(sample, "write_grids", lambda *a, **k: None)   # sampling grids: slow, not under test here
    return ["--batch-size", "8", "--ckpt-every", "1", "--curve-images", "16"]


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_sincos_slot_positions_tell_the_slots_apart_from_the_first_step():
    from unite_mol.images.adapter import ImageConfig, sincos_2d

    learned = build_image_model("IM-T", slot_pos="learned")
    fixed = build_image_model("IM-T")                                       # the default since 2026-12-07
    mask = torch.ones(1, 49, dtype=torch.bool)
    assert torch.equal(learned.adapter.slot_pos(mask), learned.adapter.latent_pos)
    grid = sincos_2d(7, fixed.adapter.latent_pos.shape[-1])
    torch.testing.assert_close(fixed.adapter.slot_pos(mask), fixed.adapter.latent_pos + grid)
    pos = fixed.adapter.slot_pos(mask)[0]
    gap = torch.cdist(pos, pos) + torch.eye(49) * 1e9
    assert float(gap.min()) > 10 * float(learned.adapter.latent_pos.std())   # no two slots alike at init
    assert {"latent_pos"} <= {n.split(".")[-1] for n, _ in fixed.named_parameters()}
    assert not any("patch_pos" in k for k in fixed.state_dict())   # the fixed part is not saved
    with pytest.raises(ValueError, match="slot_pos"):
        ImageConfig(slot_pos="random")


def test_files_and_runs_from_before_slot_positions_keep_learned_ones(tmp_path):
    """Model sidecars and run configs written before ``slot_pos`` existed had learned positions alone; they
    must load as such, while a fresh run gets today's default."""
    from unite_mol.images.adapter import ImageConfig
    from unite_mol.images.io import load_image_model, save_image_model
    from unite_mol.images.train_config import ImageTrainConfig, resolve
    from unite_mol.model_files import config_digest

    old = {k: v for k, v in ImageConfig().to_dict().items() if k != "slot_pos"}
    assert ImageConfig.from_dict(old).slot_pos == "learned"
    assert ImageConfig.from_dict(ImageConfig().to_dict()).slot_pos == "sincos"
    model = build_image_model("IM-T", slot_pos="learned")
    save_image_model(tmp_path / "m", model)
    sidecar = json.loads((tmp_path / "m.json").read_text())
    sidecar["image_config"].pop("slot_pos")                                   # as an older file has it
    sidecar["config_sha256"] = config_digest(sidecar, "images")
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    mask = torch.ones(1, 49, dtype=torch.bool)
    loaded = load_image_model(tmp_path / "m")
    assert loaded.adapter.config.slot_pos == "learned"
    torch.testing.assert_close(loaded.adapter.slot_pos(mask), model.adapter.slot_pos(mask))
    saved_run = {k: v for k, v in ImageTrainConfig().to_dict().items() if k != "slot_pos"}
    assert resolve({}, saved_run).slot_pos == "learned"                      # an old run resumes as it began
    assert resolve({}, None).slot_pos == "sincos"                            # a fresh one gets the default
    with pytest.raises(ValueError, match="another config"):
        resolve({"slot_pos": "sincos"}, saved_run)


def test_cli_flags_refused_where_they_do_not_apply(tmp_path, tiny_data, capsys):
    from unite_mol.images.train import main

    run = ["--run-dir", str(tmp_path / "r"), *tiny_data, "--steps", "1"]
    for flags in (["--two-stage", "--flow-weight", "1"], ["--two-stage", "--no-stop-grad"],
                  ["--two-stage", "--separate-weights"], ["--two-stage", "--decoder-noise-prob", "0.5"],
                  ["--kl-weight", "1e-3"]):
        assert main(run + flags) == 2, flags
        assert "does not apply" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_ablation_flags_reach_the_run_and_survive_a_resume(tmp_path, tiny_data, capsys):
    from unite_mol.images.io import load_image_model
    from unite_mol.images.train import main

    run = tmp_path / "arm"
    flags = ["--flow-weight", "0.5", "--no-stop-grad", "--separate-weights", "--decoder-noise-prob", "0",
             "--fixed-latent-norm", "--slot-pos", "learned"]
    assert main(["--run-dir", str(run), *tiny_data, "--steps", "2", *flags]) == 0
    saved = json.loads((run / "config.json").read_text())["image_training"]
    want = {"flow_weight": 0.5, "stop_grad": False, "shared_weights": False, "decoder_noise_prob": 0.0,
            "fixed_latent_norm": True, "slot_pos": "learned", "curve_images": 16, "batch_size": 8, "two_stage": False}
    assert {k: saved[k] for k in want} == want
    objective = json.loads((run / "entry.json").read_text())["objective"]
    assert (objective["flow_weight"], objective["stop_grad"], objective["shared_weights"],
            objective["decoder_noise_prob"]) == (0.5, False, False, 0.0)
    model = load_image_model(run / "model")
    assert model.ge_denoise is not None and model.ge.latent_norm.weight is None
    assert model.adapter.config.slot_pos == "learned"
    ours = {p.data_ptr() for p in model.ge.parameters()}
    assert ours.isdisjoint(p.data_ptr() for p in model.ge_denoise.parameters())
    assert model.meta["training"]["image_training"] == saved
    assert [r["step"] for r in lines(run / "eval.jsonl")] == [1, 2]
    # a stray curve line past the checkpoint (a kill between them) is dropped when the run goes on
    with open(run / "eval.jsonl", "a") as fh:
        fh.write(json.dumps({"step": 3, "elapsed_s": 9.0, "val_psnr": 0.0, "val_ssim": 0.0}) + "\n")
    assert main(["--run-dir", str(run), "--steps", "3", "--ckpt-every", "1"]) == 0     # no flags: the run's own
    assert json.loads((run / "config.json").read_text())["image_training"] == saved
    assert json.loads((run / "entry.json").read_text())["objective"] == objective
    assert lines(run / "metrics.jsonl")[-1]["step"] == 3
    curve = lines(run / "eval.jsonl")
    assert [r["step"] for r in curve] == [1, 2, 3] and curve[-1]["val_psnr"] != 0.0
    assert all(r["val_images"] == 16 and r["eval_s"] >= 0 for r in curve)
    capsys.readouterr()
    assert main(["--run-dir", str(run), "--steps", "3", "--flow-weight", "1"]) == 2   # another arm: refused
    err = capsys.readouterr().err
    assert "flow_weight = 0.5 there, 1.0 here" in err and "fresh --run-dir" in err


def test_two_stage_curve_follows_both_stages_and_keeps_its_kl_weight(tmp_path, tiny_data, capsys):
    from unite_mol.images.curves import read_curve
    from unite_mol.images.train import main

    run = tmp_path / "ts"
    assert main(["--run-dir", str(run), *tiny_data, "--steps", "2", "--two-stage", "--kl-weight", "0.01"]) == 0
    assert json.loads((run / "entry.json").read_text())["objective"]["kl_weight"] == 0.01
    pts = read_curve(run)
    assert [p["stage"] for p in pts] == ["stage1", "stage1", "stage2", "stage2"]
    walls = [p["wall_s"] for p in pts]
    assert walls == sorted(walls) and walls[2] >= pts[1]["elapsed_s"]
    assert pts[2]["val_psnr"] == pts[3]["val_psnr"] == pts[1]["val_psnr"]   # stage 2 leaves the frozen VAE as is
    assert main(["--run-dir", str(run), "--steps", "2"]) == 0                 # resumed as the baseline
    capsys.readouterr()
    assert main(["--run-dir", str(run), "--steps", "2", "--no-stop-grad"]) == 2
    assert "does not apply to the two-stage" in capsys.readouterr().err


def write_log(folder, points):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eval.jsonl").write_text("".join(json.dumps(p) + "\n" for p in points))


def test_curves_table_and_picture(tmp_path, capsys):
    from unite_mol.images.curves import main, read_curve, value_at, write_curves

    pt = lambda step, s, psnr: {"step": step, "elapsed_s": s, "val_psnr": psnr, "val_ssim": psnr / 100,  # noqa: E731
                                "val_images": 256, "eval_s": 0.5}
    write_log(tmp_path / "unite", [pt(10, 30, 10.0), pt(100, 1800, 16.0), pt(200, 3600, 19.0)])
    write_log(tmp_path / "ts" / "stage1", [pt(10, 30, 12.0), pt(90, 1810, 24.0)])
    write_log(tmp_path / "ts" / "stage2", [pt(10, 30, 24.0), pt(80, 1795, 24.0)])
    ts = read_curve(tmp_path / "ts")
    assert [p["wall_s"] for p in ts] == [30, 1810, 1840, 3605]
    u = read_curve(tmp_path / "unite")
    assert value_at(u, "val_psnr", 30) == pytest.approx(16.0)
    assert value_at(u, "val_psnr", 45) == pytest.approx(17.5)          # halfway between two checkpoints
    assert value_at(u, "val_psnr", 0.1) is None and value_at(u, "val_psnr", 90) is None
    rows = write_curves({"unite": tmp_path / "unite", "two-stage": tmp_path / "ts", "empty": tmp_path / "none"},
                        tmp_path / "out")
    by = {r["run"]: r for r in rows}
    assert by["unite"]["psnr_60m"] == pytest.approx(19.0) and by["two-stage"]["psnr_60m"] == pytest.approx(24.0)
    assert by["unite"]["curve_cost_pct"] == pytest.approx(100 * 1.5 / 3600, abs=0.01)
    assert by["empty"]["points"] == 0 and by["empty"]["psnr_30m"] is None
    for name in ("curves.png", "curves.csv", "curves.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert main([f"unite={tmp_path / 'unite'}", "--out", str(tmp_path / "out2"), "--minutes", "30"]) == 0
    assert "psnr_30m" in capsys.readouterr().out
    assert main(["no-equals", "--out", str(tmp_path / "out3")]) == 2
    assert main([f"x={tmp_path / 'missing'}", "--out", str(tmp_path / "out3")]) == 2
