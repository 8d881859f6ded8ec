"""Faults a new user meets (issue 13): corrupted model files, bad arguments, the exported model racing the
checkpoint, the metrics CLI on huge or all-bad files, defaults shared by the CLI and the API."""

import inspect
import json
import warnings

import numpy as np
import pytest
import torch

from helpers import tiny_model
from unite_mol.generation import DEFAULT_MODEL, generate, load_model, save_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    save_model(d / "m", tiny_model())
    return d / "m"


def copy_model(saved, dst, *, meta_edit=None, pt_edit=None):
    meta = json.loads(saved.with_suffix(".json").read_text())
    if meta_edit is not None:
        meta = meta_edit(meta)
    dst.with_suffix(".json").write_text(json.dumps(meta))
    data = bytearray(saved.with_suffix(".pt").read_bytes())
    if pt_edit is not None:
        pt_edit(data)
    dst.with_suffix(".pt").write_bytes(bytes(data))
    return dst


# ------------------------------------------------------------------------------------------ model files
def test_saved_model_records_hashes_and_loads_without_warning(saved):
    meta = json.loads(saved.with_suffix(".json").read_text())
    assert meta["format_version"] == 2 and len(meta["weights_sha256"]) == 64 and len(meta["config_sha256"]) == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(saved)


@pytest.mark.parametrize("count", [64, 200])
def test_flipped_bytes_in_the_weights_are_refused(saved, tmp_path, count):
    def flip(data):
        rng = np.random.default_rng(count)
        for i in rng.choice(np.arange(len(data) // 4, len(data) - 100), size=count, replace=False):
            data[i] ^= 0xFF

    bad = copy_model(saved, tmp_path / "flipped", pt_edit=flip)
    with pytest.raises(ValueError, match="flipped.pt is corrupt"):
        load_model(bad)


def test_edited_element_list_or_coord_scale_is_refused(saved, tmp_path):
    def chlorine(meta):
        meta["molecule_config"]["elements"] = [17 if z == 9 else z for z in meta["molecule_config"]["elements"]]
        return meta

    def scale(meta):
        meta["molecule_config"]["coord_scale"] = 10.0
        return meta

    with pytest.raises(ValueError, match=r"cl\.json was edited after saving"):
        load_model(copy_model(saved, tmp_path / "cl", meta_edit=chlorine))
    with pytest.raises(ValueError, match=r"scale\.json was edited after saving"):
        load_model(copy_model(saved, tmp_path / "scale", meta_edit=scale))


def test_malformed_sidecars_raise_value_errors_naming_the_file(saved, tmp_path):
    cases = {
        "list": lambda meta: [meta],
        "no_ge": lambda meta: {k: v for k, v in meta.items() if k != "ge_config"},
        "ge_list": lambda meta: {**meta, "ge_config": [1, 2]},
        "version": lambda meta: {**meta, "format_version": "two"},
        "no_hash": lambda meta: {k: v for k, v in meta.items() if k != "weights_sha256"},
        "bad_ge": lambda meta: {**meta, "ge_config": {**meta["ge_config"], "width": "wide"}},
    }
    for name, edit in cases.items():
        with pytest.raises(ValueError, match=rf"{name}\.json"):
            load_model(copy_model(saved, tmp_path / name, meta_edit=edit))
    (tmp_path / "dir.pt").mkdir()
    (tmp_path / "dir.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        load_model(tmp_path / "dir")


def test_version_1_files_load_with_a_warning_naming_the_file(saved, tmp_path):
    def v1(meta):
        meta = {k: v for k, v in meta.items() if k not in ("weights_sha256", "config_sha256")}
        return {**meta, "format_version": 1}

    old = copy_model(saved, tmp_path / "old", meta_edit=v1)
    with pytest.warns(UserWarning, match=r"old\.json: format version 1"):
        load_model(old)


@pytest.mark.skipif(not DEFAULT_MODEL.with_suffix(".pt").exists(), reason="no shipped model in this checkout")
def test_shipped_model_still_loads():
    meta = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    if meta["format_version"] == 1:
        with pytest.warns(UserWarning, match="format version 1"):
            load_model()
    else:
        load_model()


# ------------------------------------------------------------------------------------------ generate()
def test_every_generate_argument_is_checked_before_any_work(monkeypatch):
    import unite_mol.generation as gen

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(gen, "load_model", no_work)
    monkeypatch.setattr(gen, "make_molecules", no_work)
    bad = [dict(sampler=dict(batch_size=0)), dict(sampler=dict(batch_size=-1)), dict(sampler=dict(steps=0)),
           dict(sampler=dict(method="rk4")), dict(sampler=dict(precision="fp16")), dict(sampler=dict(stepz=3)),
           dict(bonds="magic"), dict(seed=-1), dict(num_atoms=0), dict(num_atoms=[3, 4]), dict(device="gpu"),
           dict(model=3.5), dict(bonds=None, relax=True)]
    if not torch.cuda.is_available():
        bad.append(dict(device="cuda"))
    for kwargs in bad:
        with pytest.raises(ValueError):
            gen.generate(3, **{"model": "missing-model", **kwargs})
    with pytest.raises(ValueError, match="n must be"):
        gen.generate(-1)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            gen.generate(1, device="cuda")


def test_cli_and_api_share_their_options_and_defaults():
    """Every generate() request parameter but the Python-only ones, and every SamplerConfig field, is a flag of
    ``python -m unite_mol generate``; the request flags default as generate() does and the sampler flags, left
    unset, give SamplerConfig's defaults."""
    from unite_mol.__main__ import build_parser, sampler_config
    from unite_mol.sampling import SamplerConfig

    args = build_parser().parse_args(["generate", "--n", "1", "--out", "x.sdf"])
    cli = vars(args)
    api = {k: p.default for k, p in inspect.signature(generate).parameters.items()}
    for key in set(api) - {"n", "model", "sampler", "progress"}:
        assert key in cli, f"generate({key}=...) has no command-line flag"
        assert cli[key] == api[key], key
    assert set(SamplerConfig.field_names()) <= set(cli)
    assert sampler_config(args) == SamplerConfig()
    assert len(api) <= 12
    # a flag given overrides the config; a method's noise default follows the method
    args = build_parser().parse_args(["generate", "--n", "1", "--out", "x.sdf", "--method", "heun", "--restarts", "1"])
    assert sampler_config(args) == SamplerConfig(method="heun", restarts=1)


def test_precision_is_recorded_and_fp32_does_not_depend_on_batch_size():
    model = tiny_model().eval()
    a = generate(6, seed=2, model=model, bonds=None, progress=False, sampler=dict(steps=3, precision="fp32", batch_size=6))
    b = generate(6, seed=2, model=model, bonds=None, progress=False, sampler=dict(steps=3, precision="fp32", batch_size=1))
    assert all(m.properties["precision"] == "fp32" for m in a)
    for x, y in zip(a, b):
        assert np.array_equal(x.numbers, y.numbers)
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-4)
    c = generate(2, seed=2, model=model, bonds=None, progress=False, sampler=dict(steps=2, precision="bf16"))
    assert all(m.properties["precision"] == "bf16" for m in c)


def test_progress_callback_and_chunks_give_the_same_molecules():
    model = tiny_model().eval()
    seen = []
    whole = generate(7, seed=1, model=model, bonds=None, progress=seen.append, sampler=dict(steps=2, precision="fp32", batch_size=3))
    assert sum(seen) == 7 and len(seen) == 3
    from unite_mol.generation import make_molecules
    from unite_mol.sampling import Sampler

    sampler = Sampler(model, dict(steps=2, precision="fp32"))
    parts = (make_molecules(sampler, 4, seed=1, bonds=None) + make_molecules(sampler, 3, seed=1, first_index=4, bonds=None))
    for x, y in zip(whole, parts):
        assert x.properties["sample_index"] == y.properties["sample_index"]
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-4)


def test_cli_checks_the_output_before_generating_and_writes_in_chunks(saved, tmp_path, monkeypatch, capsys):
    import unite_mol.__main__ as cli
    import unite_mol.generation as gen
    from unite_mol import io

    calls = []
    real = gen.make_molecules

    def counting(sampler, n, **kwargs):
        calls.append(n)
        return real(sampler, n, **kwargs)

    monkeypatch.setattr(gen, "make_molecules", counting)
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    assert cli.main(["generate", "--n", "5", "--out", str(tmp_path / "x.pdb"), "--model", str(saved)]) == 2
    err = capsys.readouterr().err     # names what the command line writes, not the API's format= (issue 28)
    assert "write .sdf or .xyz" in err and "format=" not in err and calls == []
    assert cli.main(["generate", "--n", "5", "--out", str(tmp_path / "x.sdf"), "--model", str(saved),
                     "--batch-size", "0"]) == 2
    assert "batch_size" in capsys.readouterr().err and calls == []
    monkeypatch.setattr(cli, "CHUNK", 3)
    out = tmp_path / "x.xyz"
    assert cli.main(["generate", "--n", "7", "--out", str(out), "--model", str(saved), "--steps", "2",
                     "--precision", "fp32", "--bonds", "none"]) == 0
    assert calls == [3, 3, 1]
    mols = io.read(out)
    ref = gen.generate(7, model=str(saved), sampler=dict(steps=2, precision="fp32"), bonds=None, progress=False)
    assert [m.properties["sample_index"] for m in mols] == list(range(7))
    for x, y in zip(mols, ref):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-4)


# ------------------------------------------------------------------------------------------ runs killed
TRAIN_SCRIPT = r"""
import json, os, signal, sys
sys.path.insert(0, {tests!r})
import torch
from test_trainer import Toy, toy_batches, toy_loss, cfg
from unite_mol.core.trainer import Trainer

run, kill_in_hook, kill_at_step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def export(trainer):
    if trainer.step == kill_in_hook:
        os.kill(os.getpid(), signal.SIGKILL)   # after checkpoint.pt is written, before the export
    with open(os.path.join(run, "export.json"), "w") as fh:
        json.dump({{"step": trainer.step}}, fh)

def loss(model, batch, generator):
    if kill_at_step and trainer.step == kill_at_step:
        os.kill(os.getpid(), signal.SIGKILL)
    return toy_loss(model, batch, generator)

torch.manual_seed(0)
trainer = Trainer(Toy(), loss, toy_batches, cfg(steps=20, ckpt_every=int(sys.argv[4])), run, on_checkpoint=export)
trainer.fit()
"""


def run_training(tmp_path, run, kill_in_hook=-1, kill_at_step=0, ckpt_every=10):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "train_toy.py"
    script.write_text(TRAIN_SCRIPT.format(tests=str(Path(__file__).parent)))
    return subprocess.run([sys.executable, str(script), str(run), str(kill_in_hook), str(kill_at_step),
                           str(ckpt_every)], capture_output=True, text=True, timeout=120,
                          env={"OMP_NUM_THREADS": "1", "UNITE_MOL_NO_PROGRESS": "1", "PATH": "/usr/bin:/bin"})


def test_export_catches_up_after_a_kill_between_checkpoint_and_export(tmp_path):
    run = tmp_path / "run"
    out = run_training(tmp_path, run, kill_in_hook=20)
    assert out.returncode == -9, out.stderr
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 20
    assert json.loads((run / "export.json").read_text())["step"] == 10      # the race the issue describes
    out = run_training(tmp_path, run)                                        # the same command again
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "export.json").read_text())["step"] == 20
    assert json.loads((run / "on_checkpoint.json").read_text())["step"] == 20


def test_no_duplicated_metrics_step_after_a_kill_before_the_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    out = run_training(tmp_path, run, kill_at_step=12, ckpt_every=100)
    assert out.returncode == -9, out.stderr
    assert not (run / "checkpoint.pt").exists()
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [5, 10]
    out = run_training(tmp_path, run, ckpt_every=100)
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [5, 10, 15, 20]


def train_cli(run, *extra):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "unite_mol.train", "--run-dir", str(run), "--preset", "GE-T",
                           "--batch-size", "4", "--log-every", "1", "--warmup", "2", *extra],
                          capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "UNITE_MOL_NO_PROGRESS": "1", "PATH": "/usr/bin:/bin"})


def test_training_says_where_the_model_is_and_reexports_a_stale_model(tmp_path):
    run = tmp_path / "run"
    out = train_cli(run, "--steps", "2", "--ckpt-every", "2")
    assert out.returncode == 0, out.stderr
    assert f"model: {run / 'model'}.pt" in out.stdout and f"generate --model {run / 'model'}" in out.stdout
    stale = {suffix: (run / f"model{suffix}").read_bytes() for suffix in (".pt", ".json")}
    out = train_cli(run, "--steps", "4", "--ckpt-every", "2")
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "model.json").read_text())["training"]["step"] == 4
    # a kill after checkpoint.pt (step 4) was written, before the model was exported: the step-2 model is left
    for suffix, data in stale.items():
        (run / f"model{suffix}").write_bytes(data)
    (run / "on_checkpoint.json").write_text(json.dumps({"step": 2}))
    out = train_cli(run, "--steps", "4", "--ckpt-every", "2")                # nothing left to train
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "model.json").read_text())["training"]["step"] == 4
    assert load_model(run / "model").meta["training"]["step"] == 4
    assert json.loads((run / "config.json").read_text())["train"]["lr_schedule"] == "cosine"


def test_a_budget_drives_the_schedule_and_ends_the_warm_up(tmp_path):
    from unite_mol.core.trainer import TrainConfig, Trainer
    from unite_mol.train import BUDGET_WARMUP_FRAC, build_parser

    assert build_parser().parse_args(["--run-dir", "x"]).lr_schedule == "auto"
    out = train_cli(tmp_path / "b", "--steps", "100000", "--budget", "3s", "--ckpt-every", "1000")
    assert out.returncode == 0, out.stderr
    train = json.loads((tmp_path / "b" / "config.json").read_text())["train"]
    assert train["lr_schedule"] == "cosine-budget" and train["warmup_budget_frac"] == BUDGET_WARMUP_FRAC
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert "budget ran out" in out.stdout
    cfg = TrainConfig(steps=100_000, budget_s=90.0, lr=1.0, warmup_steps=500, lr_schedule="cosine-budget",
                      warmup_budget_frac=0.05, device="cpu")
    t = Trainer(torch.nn.Linear(2, 1), lambda m, b, g: (m(b).sum(), {}), lambda e: [torch.ones(1, 2)], cfg, tmp_path / "t")
    assert t.lr_at(0, elapsed=0.0) == pytest.approx(1 / 500)
    assert t.lr_at(10, elapsed=2.25) == pytest.approx(0.5)          # half of the 4.5 s warm-up
    assert t.lr_at(55, elapsed=89.0) < 0.2                            # annealed by the budget, not warming up
    assert max(lrs) > 0 and len(lrs) >= 1


# ------------------------------------------------------------------------------------------ metrics CLI, bench
def test_metrics_cli_refuses_huge_molecules_and_all_bad_files(tmp_path, capsys):
    import time

    from unite_mol import Molecule, io
    from unite_mol.metrics.__main__ import main

    rng = np.random.default_rng(0)
    huge = Molecule(np.full(100_000, 6), rng.normal(size=(100_000, 3)) * 30, properties={"name": "huge"})
    water = Molecule([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], properties={"name": "water"})
    path = io.write(tmp_path / "huge.xyz", [huge, water])
    t0 = time.time()
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "has 100000 atoms" in err and "--max-atoms" in err and time.time() - t0 < 60
    assert main([str(path), "--lenient"]) == 0
    out = capsys.readouterr()
    assert "skipped" in out.err and out.out.split("\n")[0].split() == ["n", "1"]
    bad = tmp_path / "bad.xyz"
    bad.write_text("two\ncomment\nC 0 0 0\n")
    with pytest.warns(UserWarning):
        assert main([str(bad), "--lenient"]) == 2
    assert "no molecules to score" in capsys.readouterr().err


def test_bench_help_lists_every_benchmark_with_a_line_each():
    import subprocess
    import sys

    from unite_mol.bench import BENCHMARKS

    out = subprocess.run([sys.executable, "-m", "unite_mol.bench", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    for name in BENCHMARKS:
        row = [x for x in lines if x.split()[:1] == [name]]
        assert len(row) == 1 and len(row[0].split()) > 2, name     # the name and a description


# ------------------------------------------------------------------------------------------ chemist's outputs
def test_smiles_table_and_valid_only(monkeypatch):
    from unite_mol import Molecule
    from unite_mol.molecule import table

    water = Molecule([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]).with_bonds("edm")
    hydroxyl = Molecule([8, 1], [[0, 0, 0], [0.96, 0, 0]]).with_bonds("edm")
    assert water.smiles == "O" and water.invalid_reason() == ""
    assert "radical" in hydroxyl.invalid_reason() and Molecule([6], [[0, 0, 0]]).smiles is None
    t = table([water, hydroxyl])
    assert list(t["valid"]) == [True, False] and t.loc[0, "formula"] == "H2O" and t.loc[0, "MolWt"] > 18
    # an untrained model makes no valid molecule: let every third sample count as valid
    monkeypatch.setattr(Molecule, "invalid_reason", lambda m, **_: "" if m.properties["sample_index"] % 3 == 0 else "no")
    model = tiny_model().eval()
    kw = dict(seed=0, model=model, bonds="edm", sampler=dict(steps=2, precision="fp32"), progress=False)
    good = generate(3, valid_only=True, **kw)
    assert [m.properties["sample_index"] for m in good] == [0, 3, 6]
    drawn = good[0].properties["drawn"]
    assert drawn == 7
    everything = generate(drawn, **kw)                 # the same samples, unfiltered
    assert [m.properties["sample_index"] for m in everything if not m.invalid_reason()] == \
        [m.properties["sample_index"] for m in good]
    with pytest.raises(ValueError, match="valid_only"):
        generate(1, valid_only=True, bonds=None, model=model)
    from unite_mol.generation import make_molecules
    from unite_mol.sampling import Sampler

    with pytest.raises(ValueError, match="max_draws"):
        make_molecules(Sampler(model, kw["sampler"]), 5, valid_only=True, max_draws=9, bonds="edm")


def test_cli_writes_a_csv_table(saved, tmp_path, monkeypatch):
    import pandas as pd

    import unite_mol.__main__ as cli

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    monkeypatch.setattr(cli, "CHUNK", 2)
    out = tmp_path / "x.csv"
    assert cli.main(["generate", "--n", "3", "--out", str(out), "--model", str(saved), "--steps", "2",
                     "--bonds", "edm"]) == 0
    t = pd.read_csv(out)
    assert len(t) == 3 and {"smiles", "formula", "valid", "reason", "MolWt"} <= set(t.columns)


def test_num_heavy_atoms_is_exact_in_the_output_and_reproducible():
    model = tiny_model().eval()
    kw = dict(seed=0, model=model, bonds="edm", sampler=dict(steps=2, precision="fp32"), progress=False)
    everything = generate(60, **kw)
    counts = [int((m.numbers > 1).sum()) for m in everything]
    k = max(set(counts), key=counts.count)                       # the tiny model's commonest heavy count
    picked = generate(3, num_heavy_atoms=k, **kw)
    assert all(int((m.numbers > 1).sum()) == k for m in picked)
    assert [m.properties["sample_index"] for m in picked] == [i for i, c in enumerate(counts) if c == k][:3]
    with pytest.raises(ValueError, match="cannot hold"):
        generate(1, num_heavy_atoms=9, num_atoms=5, **kw)
    with pytest.raises(ValueError, match="num_heavy_atoms"):
        generate(1, num_heavy_atoms=0, **kw)
