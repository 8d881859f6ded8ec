"""The image adapter on the unchanged core: shapes, conditioning, guidance, data loaders, metrics."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from unite_mol.core import UniteConfig, UniteModel, unite_loss
from unite_mol.images.adapter import ImageBatch, ImageConfig, build_image_model, reconstruct_images, sample_images
from unite_mol.images.data import ImageBatches, fashion_mnist, image_folder, read_idx, to_tensor
from unite_mol.images.metrics import FashionClassifier, fd_fmnist, frechet_distance, psnr, ssim

from image_helpers import fake_fashion_mnist, write_idx


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageBatch(torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.arange(n) % 10)


def test_image_model_is_the_core_model_and_shapes_round_trip():
    model = build_image_model("IM-T")
    assert type(model) is UniteModel
    b = batch()
    z, mask = model.encode(b, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4, 49, 8) and mask.all()
    assert model.decode(z, mask)["pixels"].shape == (4, 1, 28, 28)
    loss, logs = unite_loss(model, b, torch.Generator().manual_seed(0), UniteConfig())
    loss.backward()
    assert torch.isfinite(loss) and "psnr" in logs and "flow" in logs
    assert model.adapter.patch.weight.grad is not None
    with pytest.raises(ValueError, match="multiple of patch_size"):
        ImageConfig(image_size=30, patch_size=4)
    with pytest.raises(ValueError, match="perceptual_weights_path"):
        ImageConfig(perceptual_weight=1.0)


def test_conditioning_and_guidance_paths():
    model = build_image_model("IM-T").eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ada." in name or "cond_embed" in name:
                p.normal_(0, 0.2)  # trained-like: conditions must matter
    labels = torch.tensor([0, 3])
    a = sample_images(model, labels, steps=3, guidance=1.0, seed=1)
    b = sample_images(model, labels, steps=3, guidance=1.0, seed=1)
    c = sample_images(model, labels, steps=3, guidance=3.0, seed=1)
    d = sample_images(model, torch.tensor([5, 7]), steps=3, guidance=1.0, seed=1)
    assert torch.equal(a, b)                  # seeded
    assert not torch.allclose(a, c)           # guidance changes the x-prediction
    assert not torch.allclose(a, d)           # the class is seen
    n = model.adapter.num_latents
    z = torch.randn(2, n, 8)
    mask = torch.ones(2, n, dtype=torch.bool)
    t = torch.full((2,), 0.5)
    null = model.denoise(z, t, mask, torch.full((2,), model.ge.null_condition))
    assert torch.allclose(null, model.denoise(z, t, mask, None))   # None is the null condition
    assert reconstruct_images(model, batch(2)).shape == (2, 1, 28, 28)


def test_two_stage_image_baseline_builds():
    model = build_image_model("IM-T", vae=True)
    assert model.vae and model.ge_denoise is not None


def test_idx_reader_and_errors(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx.gz", a, 0x08)
    assert np.array_equal(read_idx(tmp_path / "a.idx.gz"), a)
    f = np.linspace(0, 1, 6).astype(np.float32).reshape(2, 3)
    write_idx(tmp_path / "f.idx", f, 0x0D)
    assert np.array_equal(read_idx(tmp_path / "f.idx"), f)
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"abc")
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short.idx")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.idx")


def test_fashion_mnist_from_a_folder_of_idx_files(tmp_path, monkeypatch):
    imgs = np.random.default_rng(0).integers(0, 255, size=(5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs, 0x08)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8), 0x08)
    monkeypatch.setenv("UNITE_MOL_FASHION_MNIST", str(tmp_path))
    x, y = fashion_mnist("test")
    assert x.shape == (5, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]
    t = to_tensor(x)
    assert t.shape == (5, 1, 28, 28) and -1 <= float(t.min()) and float(t.max()) <= 1
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion_mnist("train")
    eb = ImageBatches(t, torch.from_numpy(y), 2, seed=0, epoch=0)
    assert len(eb) == 2 and eb[0].images.shape == (2, 1, 28, 28)


def test_image_folder_layout(tmp_path):
    from PIL import Image

    for cls in ("n01", "n02"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.random.default_rng(k).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
                tmp_path / "train" / cls / f"{k}.JPEG")
    x, y, classes = image_folder(tmp_path / "train", 32)
    assert x.shape == (4, 3, 32, 32) and sorted(y.tolist()) == [0, 0, 1, 1] and classes == ["n01", "n02"]
    with pytest.raises(FileNotFoundError, match="not found"):
        image_folder(tmp_path / "nothing", 32)


def test_frechet_distance_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # diagonal covariances: sum (sqrt(a) - sqrt(b))^2 per dimension
    expected = 8.0 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-5)  # 1e-6 ridge on the covariances


def test_psnr_ssim_known_values():
    a = torch.zeros(1, 1, 28, 28)
    b = a + 0.2  # mse 0.04, peak-to-peak 2 -> 10 log10(4 / 0.04) = 20 dB
    assert float(psnr(a, b)) == pytest.approx(20.0, abs=1e-4)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)
    assert float(ssim(a, b)) < 1.0
    noise = torch.rand(1, 1, 28, 28) * 2 - 1
    assert float(ssim(noise, -noise)) < 0


def test_classifier_feature_distance_runs():
    clf = FashionClassifier()
    x = torch.rand(40, 1, 28, 28) * 2 - 1
    assert fd_fmnist(clf, x, x) == pytest.approx(0.0, abs=1e-3)
    assert fd_fmnist(clf, x, -x) > 0


def test_gpu_bench_dry_run(tmp_path):
    import json

    from unite_mol.images.gpu_bench import main

    out = tmp_path / "r.json"
    assert main(["--dry-run", "--out", str(out), "--workdir", str(tmp_path / "w")]) == 0
    res = json.loads(out.read_text())
    assert res["finite"] and res["train_images_per_s"] > 0 and res["sample_images_per_s"] > 0


def test_image_b_preset_has_the_papers_size():
    n = sum(p.numel() for p in build_image_model("IM-B").parameters())
    assert 190e6 < n < 250e6, n  # the paper's UNITE-B: about 217M parameters


def test_shipped_classifier_loads_matches_its_card_and_rejects_bad_files(tmp_path):
    import json

    from unite_mol.images.classifier import SHIPPED, load_classifier, sha256

    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert card["sha256"] == sha256(SHIPPED) and card["test_accuracy"] >= 0.85
    clf = load_classifier()
    assert not clf.training and clf.features(torch.zeros(2, 1, 28, 28)).shape == (2, 128)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        load_classifier(tmp_path / "bad.pt")
    torch.save({"head.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="do not match"):
        load_classifier(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_classifier(tmp_path / "missing.pt")


def test_images_evaluate_cli_writes_finite_results(tmp_path, monkeypatch):
    import pandas as pd

    from unite_mol.images.evaluate import main
    from unite_mol.images.io import save_image_model

    fake_fashion_mnist(tmp_path, monkeypatch, 30)
    save_image_model(tmp_path / "m", build_image_model("IM-T"))
    out = tmp_path / "out"
    (tmp_path / "run").mkdir()   # a run's learning curve: copied, drawn and tabled beside the results
    (tmp_path / "run" / "eval.jsonl").write_text(json.dumps({"step": 5, "elapsed_s": 60.0, "val_psnr": 11.0,
                                                             "val_ssim": 0.1, "eval_s": 0.2}) + "\n")
    assert main([f"tiny={tmp_path / 'm'}", "--out", str(out), "--n", "20", "--steps", "2", "--guidance", "1,3",
                 "--runs", f"tiny={tmp_path / 'run'}"]) == 0
    assert (out / "curves.png").is_file() and (out / "curves" / "tiny" / "eval.jsonl").is_file()
    assert "| tiny | 1 | 5 |" in (out / "curves.md").read_text()
    df = pd.read_csv(out / "results.csv")
    row = df[df.entry == "tiny"].iloc[0]
    for col in ("psnr", "ssim", "rFD", "gFD_g1", "gFD_g3", "class_acc_g1", "class_acc_g3"):
        assert np.isfinite(row[col]), col
    assert 0 <= row.class_acc_g1 <= 1 and row.rFD >= 0
    assert (out / "samples-tiny-g3.png").is_file() and (out / "recon-tiny.png").is_file()
    assert main(["no-equals-sign", "--out", str(out)]) == 2


def test_two_stage_training_stops_after_a_signal_in_stage_one(tmp_path, monkeypatch):
    from unite_mol.core import trainer as trainer_mod
    from unite_mol.images.train import main

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, size=(16, 28, 28), dtype=np.uint8), 0x08)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(16) % 10).astype(np.uint8), 0x08)
    monkeypatch.setenv("UNITE_MOL_FASHION_MNIST", str(tmp_path))
    calls = []
    monkeypatch.setattr(trainer_mod.Trainer, "fit", lambda self, **kw: calls.append(self.run_dir) or {"stopped": "signal"})
    run = tmp_path / "run"
    assert main(["--run-dir", str(run), "--two-stage", "--batch-size", "8", "--steps", "2", "--curve-images", "0"]) == 130
    assert [Path(c).name for c in calls] == ["stage1"]  # stage 2 never started on a half-trained VAE


def test_images_evaluate_reports_fid_with_local_inception_weights(tmp_path, monkeypatch):
    """FID beside FD-FMNIST, from a randomly initialised inception_v3 state_dict written here."""
    import pandas as pd
    import torchvision

    from unite_mol.images.evaluate import main
    from unite_mol.images.io import save_image_model
    from unite_mol.images.metrics import inception_features, load_inception

    fake_fashion_mnist(tmp_path, monkeypatch, 12)
    weights = tmp_path / "inception.pt"
    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict(), weights)
    save_image_model(tmp_path / "m", build_image_model("IM-T"))
    out = tmp_path / "out"
    assert main([f"tiny={tmp_path / 'm'}", "--out", str(out), "--n", "10", "--steps", "2", "--guidance", "1",
                 "--inception-weights", str(weights)]) == 0
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns).index("FID_g1") == list(df.columns).index("gFD_g1") + 1
    for entry in ("tiny", "data: 10 train images"):
        row = df[df.entry == entry].iloc[0]
        assert np.isfinite(row.FID_g1) and np.isfinite(row.gFD_g1), entry  # random weights: FID near 0
    assert "inception_sha256" in json.loads((out / "machine.json").read_text())
    net = load_inception(weights)
    assert inception_features(net, torch.zeros(2, 1, 28, 28)).shape == (2, 2048)
    # a file that is not Inception's is refused before any model is evaluated
    torch.save({"w": torch.zeros(3)}, tmp_path / "bad.pt")
    assert main([f"tiny={tmp_path / 'm'}", "--out", str(out), "--inception-weights", str(tmp_path / "bad.pt")]) == 2
