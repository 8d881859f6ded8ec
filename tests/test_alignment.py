"""Representation similarity (linear CKA, mutual k-NN) and ``bench alignment`` end to end on tiny models."""

from __future__ import annotations

import json

import pytest
import torch

from unite_mol.core.similarity import (cka_matrix, group_centre, knn_chance, knn_indices, knn_overlap,
                                       linear_cka, linear_cka_gram, mutual_knn)


def _features(n=200, p=16, seed=0):
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _orthogonal(p, seed=1):
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_cka_of_identical_features_is_one():
    x = _features()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka_gram(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_invariant_to_orthogonal_transform_scaling_and_translation():
    x, y = _features(seed=0), _features(seed=5) + 0.3 * _features(seed=0)
    base = linear_cka(x, y)
    assert 0.05 < base < 0.95
    assert linear_cka(x @ _orthogonal(16), y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x, 7.5 * y + 3.0) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x @ _orthogonal(16), y) == pytest.approx(linear_cka(y, x), abs=1e-12)  # symmetric
    # different widths on the two sides are fine
    assert linear_cka(x, y[:, :5]) == pytest.approx(linear_cka_gram(x, y[:, :5]), abs=1e-10)


def test_cka_not_invariant_to_a_general_linear_map():
    x = _features()
    a = torch.diag(torch.linspace(0.05, 5.0, 16, dtype=torch.float64))
    assert linear_cka(x, x @ a) < 0.9


def test_cka_feature_form_matches_gram_form():
    x, y = _features(seed=2, p=8), _features(seed=3, p=12) + _features(seed=2, p=12)
    assert linear_cka(x, y) == pytest.approx(linear_cka_gram(x, y), abs=1e-10)
    mat = cka_matrix([x, y], [y, x])
    assert mat[0][1] == pytest.approx(1.0) and mat[1][0] == pytest.approx(1.0)
    assert mat[0][0] == pytest.approx(linear_cka(x, y), abs=1e-12)


def test_cka_of_independent_random_features_is_small():
    x, y = _features(n=2000, p=8, seed=10), _features(n=2000, p=8, seed=11)
    assert linear_cka(x, y) < 0.02


def test_cka_of_a_constant_side_is_zero_and_bad_shapes_fail():
    x = _features()
    assert linear_cka(x, torch.ones(200, 3)) == 0.0
    with pytest.raises(ValueError, match="same items"):
        linear_cka(x, x[:10])
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(x[0], x[0])


def test_within_group_centring_removes_a_shared_label():
    g = torch.arange(300) % 3
    label = torch.nn.functional.one_hot(g, 3).double() * 10
    x, y = label + _features(n=300, p=3, seed=1), label + _features(n=300, p=3, seed=2)
    assert linear_cka(x, y) > 0.9                       # the label alone makes them look alike
    assert linear_cka(x, y, groups=g) < 0.1             # inside the groups they are unrelated
    c = group_centre(x, g)
    for v in range(3):
        assert c[g == v].mean(0).abs().max() < 1e-12


def test_knn_overlap_of_identical_sets_is_one_and_of_unrelated_ones_near_chance():
    x = _features(n=400)
    assert mutual_knn(x, x, k=10) == 1.0
    assert mutual_knn(x, 3 * x @ _orthogonal(16), k=10) == 1.0
    r = mutual_knn(x, _features(n=400, seed=9), k=10)
    assert r < 5 * knn_chance(400, 10)
    nn = knn_indices(x, 5)
    assert nn.shape == (400, 5) and not (nn == torch.arange(400)[:, None]).any()  # never its own neighbour
    with pytest.raises(ValueError, match="k must be"):
        knn_indices(x, 400)
    with pytest.raises(ValueError, match="same"):
        knn_overlap(nn, nn[:, :3])


# ---------------------------------------------------------------------------------------- the bench
def test_record_blocks_sees_every_block_and_leaves_no_hook():
    from unite_mol.bench.alignment import record_blocks
    from unite_mol.core import GenerativeEncoder, preset

    ge = GenerativeEncoder(preset("GE-T"))
    z, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    with record_blocks(ge) as seen:
        ge(z, torch.zeros(2), mask)
    assert len(seen) == len(ge.blocks) and seen[0].shape == (2, 5, 64)
    assert all(not blk._forward_hooks for blk in ge.blocks)


def test_identical_passes_give_cka_one():
    """A model whose denoising pass sees exactly what its tokenization pass saw agrees with itself."""
    from unite_mol.bench.alignment import Activations, alignment_scores

    hs = [_features(n=120, p=8, seed=s).float() for s in range(3)]
    acts = Activations(hs, {1.0: hs}, torch.arange(120) % 4)
    r = alignment_scores(acts, k=5, knn_items=100)["times"]["1"]
    assert r["cka_diag"] == pytest.approx([1.0] * 3)
    assert r["cka_within"] == pytest.approx([1.0] * 3)
    assert r["knn"] == [1.0] * 3


def _check_outputs(out, name, domain, kind, depth=2):
    res = json.loads((out / "results.json").read_text())
    m = res["models"][name]
    assert m["domain"] == domain and m["kind"] == kind
    row = m["times"]["0.5"]
    assert len(row["cka"]) == depth and len(row["cka"][0]) == depth
    for key in ("cka_diag", "cka_within", "cka_shuffled", "cka_input", "knn", "knn_within"):
        assert len(row[key]) == depth and all(0.0 <= v <= 1.0 + 1e-9 for v in row[key])
    assert len(m["cka_tokenize_self"]) == depth and m["cka_tokenize_self"][0][0] == pytest.approx(1.0)
    assert (out / f"alignment-{name}.png").stat().st_size > 0
    assert f"**{name}**" in (out / "results.md").read_text()


def test_bench_alignment_molecules_end_to_end(tmp_path):
    from helpers import tiny_model

    from unite_mol.bench import alignment
    from unite_mol.generation import save_model

    save_model(tmp_path / "m", tiny_model())
    save_model(tmp_path / "sep", tiny_model(shared_weights=False))
    out = tmp_path / "out"
    assert alignment.main([f"tiny={tmp_path / 'm'}", f"sep={tmp_path / 'sep'}", "--n", "6", "--times", "0.5,1",
                           "--k", "3", "--knn-items", "50", "--out", str(out)]) == 0
    _check_outputs(out, "tiny", "molecules", "shared")
    _check_outputs(out, "sep", "molecules", "separate")


def test_bench_alignment_images_end_to_end(tmp_path, monkeypatch):
    from test_images import fake_fashion_mnist

    from unite_mol.bench import alignment
    from unite_mol.images.adapter import build_image_model
    from unite_mol.images.io import save_image_model

    (tmp_path / "fm").mkdir()
    fake_fashion_mnist(tmp_path / "fm", monkeypatch, 8)
    save_image_model(tmp_path / "im", build_image_model("IM-T"))
    save_image_model(tmp_path / "vae", build_image_model("IM-T", vae=True))
    out = tmp_path / "out"
    assert alignment.main([f"im={tmp_path / 'im'}", f"vae={tmp_path / 'vae'}", "--n", "4", "--times", "0.5",
                           "--k", "3", "--knn-items", "60", "--out", str(out)]) == 0
    _check_outputs(out, "im", "images", "shared")
    _check_outputs(out, "vae", "images", "two-stage")
    assert json.loads((out / "results.json").read_text())["models"]["im"]["tokens"] == 4 * 49


@pytest.mark.parametrize("args, message", [
    (["--times", "1.5"], "--times"),
    (["--times", "a,b"], "--times"),
    (["--n", "0"], "--n must be"),
    (["--k", "20", "--knn-items", "10"], "--k"),
])
def test_bench_alignment_bad_arguments(tmp_path, capsys, args, message):
    from helpers import tiny_model

    from unite_mol.bench import alignment
    from unite_mol.generation import save_model

    save_model(tmp_path / "m", tiny_model())
    assert alignment.main([f"tiny={tmp_path / 'm'}", *args]) == 2
    assert message in capsys.readouterr().err


def test_bench_alignment_missing_model_and_duplicate_names(tmp_path, capsys):
    from unite_mol.bench import alignment

    assert alignment.main([f"x={tmp_path / 'nope'}"]) == 2
    assert "not found" in capsys.readouterr().err
    assert alignment.main([f"a={tmp_path / 'nope'}", f"a={tmp_path / 'nope'}"]) == 2
    assert "distinct" in capsys.readouterr().err


def test_bench_alignment_is_registered():
    from unite_mol.bench import BENCHMARKS

    assert BENCHMARKS["alignment"] == "unite_mol.bench.alignment"
