"""Faults a new user meets (issue 28, items 6-9, 11, 12): silent start-up, runs lost to an early kill,
non-finite coordinates leaving a Molecule, non-molecules scored, the shipped recipe, edited sidecars,
the drug bench's smoke preset."""

import json

import numpy as np
import pytest

from helpers import tiny_model
from unite_mol import io
from unite_mol.generation import save_model
from unite_mol.metrics import evaluate
from unite_mol.molecule import Molecule, table


def methane() -> Molecule:
    pos = [[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]]
    return Molecule([6, 1, 1, 1, 1], pos, bonds=[[0, k, 1] for k in range(1, 5)], properties={"name": "methane"})


def nan_in_place(value: float = float("nan")) -> Molecule:
    """A molecule whose coordinates were changed in place after construction (the user's route in the issue)."""
    m = methane()
    m.positions.flags.writeable = True
    m.positions[2, 1] = value
    return m


# ------------------------------------------------------------------------- item 8: every way out
def test_the_callers_array_is_copied_not_frozen_or_shared():
    pos = np.zeros((2, 3))
    pos[1, 0] = 1.1
    m = Molecule([1, 1], pos)
    assert pos.flags.writeable   # the caller's array is left alone (it used to be made read-only)
    pos[1, 0] = np.nan           # and changing it does not reach the molecule
    assert np.isfinite(m.positions).all() and not m.positions.flags.writeable


@pytest.mark.parametrize("suffix", [".xyz", ".sdf", ".xyz.gz"])
def test_write_refuses_coordinates_made_nan_in_place_and_leaves_the_file(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    io.write(path, [methane()])
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"molecules\[1\] \(CH4, 5 atoms\) has non-finite coordinates .* atom 2"):
        io.write(path, [methane(), nan_in_place(), methane()])
    assert path.read_bytes() == before                      # nothing half-written
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    with pytest.raises(ValueError, match="non-finite"):
        io.write(tmp_path / "new.xyz", nan_in_place(float("inf")))
    assert not (tmp_path / "new.xyz").exists()


def test_conversions_and_tables_refuse_coordinates_made_nan_in_place():
    bad = nan_in_place()
    for convert in (lambda m: m.to_rdkit(), lambda m: m.to_rdkit(sanitize=False), lambda m: m.to_ase(),
                    lambda m: m.smiles, lambda m: m.invalid_reason(), lambda m: m.with_bonds("edm")):
        with pytest.raises(ValueError, match=r"non-finite coordinates \(NaN or inf\) at atom 2"):
            convert(bad)
    with pytest.raises(ValueError, match=r"molecules\[1\] .*non-finite"):
        table([methane(), bad])
    assert methane().to_rdkit().GetNumAtoms() == 5 and table([methane()])["valid"].tolist() == [True]


# ------------------------------------------------------------------------- item 9: evaluate's inputs
@pytest.mark.parametrize("arg, match", [("abc", "got a str"), (methane(), "not a single Molecule"),
                                         (5, "got a int"), ({"a": 1}, "got a dict")])
def test_evaluate_refuses_what_is_not_a_collection_of_molecules(arg, match):
    with pytest.raises(TypeError, match=match):
        evaluate(arg, protocols=("edm",))


@pytest.mark.parametrize("item, match", [(None, r"molecules\[1\] is a NoneType"), ("ab", r"molecules\[1\] is a str"),
                                          (3.0, r"molecules\[1\] is a float"),
                                          ((1, 2, 3), r"molecules\[1\] is a tuple of length 3")])
def test_evaluate_names_an_item_that_is_not_a_molecule(item, match):
    with pytest.raises(TypeError, match=match):
        evaluate([methane(), item], protocols=("edm",))


def test_evaluate_refuses_a_molecule_made_infinite_in_place_but_records_a_broken_pair():
    with pytest.raises(ValueError, match=r"molecules\[0\] \(CH4, 5 atoms\) has non-finite"):
        evaluate([nan_in_place(float("inf"))], protocols=("edm",))
    # a generator's raw (numbers, positions) pair with NaN stays a recorded failure, as documented
    pos = methane().positions.copy()
    pos[0, 0] = np.nan
    res = evaluate([(methane().numbers, pos), methane()], protocols=("edm",))
    assert res["n"] == 2 and "non-finite" in res.records["reason"][0]
    assert res["edm/atom_stability"] == 0.5   # the broken pair's 5 atoms count, none stable


# ------------------------------------------------------------------------- item 11 (b): edited sidecars
@pytest.mark.parametrize("key, value", [("depth", 3), ("width", 96)])
def test_an_edited_ge_size_says_the_sidecar_was_edited(tmp_path, key, value):
    from unite_mol.generation import load_model

    save_model(tmp_path / "m", tiny_model())
    js = tmp_path / "m.json"
    meta = json.loads(js.read_text())
    meta["ge_config"][key] = value
    js.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"m\.json was edited after saving"):
        load_model(tmp_path / "m")


# ------------------------------------------------------------------------- item 11 (a): the shipped recipe
def test_the_shipped_recipe_builds_the_shipped_models_configs():
    from unite_mol.core import UniteConfig
    from unite_mol.core.entry import entry_objective
    from unite_mol.data import qm9
    from unite_mol.generation import DEFAULT_MODEL
    from unite_mol.train import RECIPES, build_parser, configs_from_args, model_configs, parse_args

    shipped = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    cfg, _ = configs_from_args(parse_args(["--run-dir", "x", "--recipe", "shipped-qm9"]))
    assert cfg.recipe == "shipped-qm9" and cfg.element_cond and cfg.bond_head
    ge, mol = model_configs(cfg, qm9("train"))
    assert ge.to_dict() == shipped["ge_config"]                 # element-conditioned, self-conditioning, GE-CPU
    got, want = mol.to_dict(), shipped["molecule_config"]
    assert got.pop("coord_scale") == pytest.approx(want.pop("coord_scale"))
    assert got == want                                          # refiner, bond head, local weight, data tables
    # (fields added after the model was trained are at their defaults, which is what it trained with)
    assert entry_objective(cfg.entry, cfg.unite).to_dict() == {**UniteConfig().to_dict(),
                                                               **shipped["training"]["objective"]}
    # flags on the command line win over the recipe; the recipe is listed in --help
    cfg2, _ = configs_from_args(parse_args(["--run-dir", "x", "--recipe", "shipped-qm9", "--refine-layers", "1"]))
    assert cfg2.refine_layers == 1 and cfg2.element_cond
    assert "--element-cond" in " ".join(build_parser().format_help().split()) and "shipped-qm9" in RECIPES
    # without a recipe the defaults are unchanged
    plain, _ = configs_from_args(parse_args(["--run-dir", "x"]))
    assert (plain.preset, plain.element_cond, plain.self_cond, plain.refine_layers, plain.bond_head,
            plain.local_weight, plain.recipe) == ("GE-CPU", False, False, 0, False, 0.0, None)


# ------------------------------------------------------------------------- item 7: an early kill
class FakeClock:
    """Stands in for the trainer's ``time`` module: each training step takes ``step_s`` seconds."""

    def __init__(self):
        self.t = 1000.0

    def monotonic(self):
        return self.t


class Killed(BaseException):
    """A SIGKILL: nothing in the trainer catches it, so nothing is saved on the way out."""


def test_a_run_killed_after_45_s_resumes_and_says_so(tmp_path, monkeypatch, capsys):
    import torch

    import unite_mol.core.trainer as trainer_mod
    from test_trainer import Toy, toy_batches, toy_loss
    from unite_mol.core.trainer import TrainConfig, Trainer

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    defaults = TrainConfig()
    assert defaults.first_ckpt_s <= 45 and defaults.ckpt_every_s <= 600 and defaults.ckpt_every == 500
    clock = FakeClock()
    monkeypatch.setattr(trainer_mod, "time", clock)

    def ten_seconds_a_step(kill_at):
        def loss(model, batch, generator):
            clock.t += 10.0
            if clock.t - 1000.0 > kill_at:
                raise Killed
            return toy_loss(model, batch, generator)
        return loss

    config = TrainConfig(steps=100, lr=1e-2, warmup_steps=3, log_every=1, amp="off", device="cpu")
    run = tmp_path / "run"
    torch.manual_seed(0)
    with pytest.raises(Killed):
        Trainer(Toy(), ten_seconds_a_step(45), toy_batches, config, run).fit()
    assert "starting fresh from step 0 (no checkpoint yet)" in capsys.readouterr().err
    saved = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert saved == 4                                    # 30 s in (the step that ended at 40 s), not at step 500
    clock.t = 1000.0
    resumed = Trainer(Toy(), ten_seconds_a_step(1e9), toy_batches, config, run)
    assert resumed.step == 4
    resumed.fit(stop_at=6)
    assert "resuming from step 4 (epoch 0, 40 s used) from checkpoint.pt" in capsys.readouterr().err
    # a run killed before its first checkpoint says that its steps were lost
    lost = tmp_path / "lost"
    torch.manual_seed(0)
    clock.t = 1000.0
    with pytest.raises(Killed):
        Trainer(Toy(), ten_seconds_a_step(25), toy_batches, config, lost).fit()
    capsys.readouterr()
    Trainer(Toy(), toy_loss, toy_batches, config, lost).fit(stop_at=1)
    assert "starting fresh from step 0: the earlier run in this folder stopped before its first checkpoint" in \
        capsys.readouterr().err


# ------------------------------------------------------------------------- item 6: FLOPs inside the budget
def test_flops_are_counted_on_the_first_training_steps_not_before_them(tmp_path, monkeypatch, capsys):
    import torch

    from helpers import qm9_batch
    from unite_mol.core import UniteConfig
    from unite_mol.core.entry import FLOP_BATCHES, count_step_flops, train_entry
    from unite_mol.core.trainer import TrainConfig
    from unite_mol.core.unite import unite_loss

    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")
    epoch = [qm9_batch(range(k, k + n)) for k, n in ((0, 2), (2, 4), (6, 3), (9, 2), (11, 4), (15, 3))]
    calls = []
    real = unite_loss

    def spy(model, batch, generator, cfg):
        calls.append(len(batch))
        return real(model, batch, generator, cfg)

    monkeypatch.setattr("unite_mol.core.entry.unite_loss", spy)
    steps = FLOP_BATCHES + 2
    model, record = train_entry(tiny_model(), lambda e: epoch, entry="unite", unite=UniteConfig(),
                                train=TrainConfig(steps=steps, amp="off", device="cpu", warmup_steps=1),
                                run_dir=tmp_path / "run")
    assert len(calls) == steps              # no extra forward/backward passes before the clock started
    stage = record["stages"][0]
    assert stage["flops_counted"] == f"first {FLOP_BATCHES} training steps"
    monkeypatch.setattr("unite_mol.core.entry.unite_loss", real)
    loss = lambda m, b, g: real(m, b, g, UniteConfig())  # noqa: E731
    expect = [count_step_flops(tiny_model(), loss, b) for b in epoch[:FLOP_BATCHES]]
    assert stage["flops_per_step"] == pytest.approx(sum(expect) / FLOP_BATCHES, rel=1e-6)
    saved = json.loads((tmp_path / "run" / "entry.json").read_text())
    assert saved["stages"][0]["flops_per_step"] == stage["flops_per_step"] and saved["flops"] > 0
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["flop_counts"] == pytest.approx(expect)


# ------------------------------------------------------------------------- item 12: the drug bench's table
def test_counts_print_as_integers_and_only_smoke_warns():
    from unite_mol.bench import drugs
    from unite_mol.bench.report import markdown_table

    row = {"entry": "unite", "drugs/n": 8.0, "gen/openbabel/validity": 0.9375, "recon/rmsd": 0.25}
    table_text = markdown_table([row], drugs.COLUMNS)
    assert "| 8 |" in table_text and "8.000" not in table_text and "93.75" in table_text and "0.250" in table_text
    assert "say nothing" in " ".join(drugs.preset_notes(drugs.PRESETS["smoke"]))
    assert drugs.preset_notes(drugs.PRESETS["cpu"]) == []
