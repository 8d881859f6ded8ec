"""The shared trainer: config validation, exact resume (stop, SIGTERM, Ctrl-C), atomic checkpoints, checkpoint
errors, budget, EMA and LR maths, non-finite steps, run-folder files, DDP on gloo. Tiny CPU models only."""

import collections
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from unite_mol.core.trainer import TrainConfig, Trainer, batch_length, move


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("UNITE_MOL_NO_PROGRESS", "1")


class Toy(nn.Module):
    def __init__(self, hidden: int = 16, extra: bool = False):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.LayerNorm(hidden), nn.Tanh(), nn.Linear(hidden, 1))
        if extra:
            self.head = nn.Linear(1, 1)

    def predict(self, x):  # a non-forward method: loss functions call such methods (DDP must allow it)
        return self.net(x)


def toy_loss(model, batch, generator):
    x, y = batch
    noise = torch.randn(x.shape, generator=generator) * 0.01   # uses the checkpointed generator
    loss = ((model.predict(x + noise) - y) ** 2).mean()
    return loss, {"mse": float(loss.detach())}


def toy_batches(epoch):
    g = torch.Generator().manual_seed(1000 + epoch)
    out = []
    for _ in range(7):
        x = torch.randn(8, 4, generator=g)
        out.append((x, x.sum(1, keepdim=True)))
    return out


def cfg(**kw):
    base = dict(steps=20, lr=1e-2, warmup_steps=3, log_every=5, ckpt_every=100, amp="off", device="cpu", ema_decay=0.9)
    base.update(kw)
    return TrainConfig(**base)


def new(run, loss=toy_loss, seed=0, **kw):
    torch.manual_seed(seed)
    return Trainer(Toy(), loss, toy_batches, cfg(**kw), run)


def assert_same_training_state(a: Trainer, b: Trainer):
    for name, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[name]), name
    for name, v in a.ema.state_dict().items():
        assert torch.equal(v, b.ema.state_dict()[name]), name
    sa, sb = a.opt.state_dict()["state"], b.opt.state_dict()["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(sa[i][k], sb[i][k]), (i, k)
    assert torch.equal(a.generator.get_state(), b.generator.get_state())
    assert (a.step, a.epoch, a.index, a.samples_seen) == (b.step, b.epoch, b.index, b.samples_seen)


# ------------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("field, value, words", [
    ("steps", 0, "an integer >= 1"), ("steps", 2.5, "an integer"), ("budget_s", 0, "> 0 or None"),
    ("lr", 0, "> 0"), ("lr", float("nan"), "> 0"), ("weight_decay", -1, ">= 0"), ("betas", (0.9,), "two numbers"),
    ("betas", (0.9, 1.0), "[0, 1)"), ("warmup_steps", -1, ">= 0"), ("lr_schedule", "linear", "'cosine', 'cosine-budget', 'constant'"),
    ("min_lr_ratio", 1.5, "[0, 1]"), ("grad_clip", 0, "> 0"), ("ema_decay", 1.0, "[0, 1)"), ("seed", -1, "integer"),
    ("log_every", 0, ">= 1"), ("ckpt_every", 0, ">= 1"), ("ckpt_every_s", 0, "> 0"), ("amp", "fp8", "'auto', 'bf16', 'off'"),
    ("device", "gpu", "'cuda:K'"), ("steps", True, "integer"),
])
def test_config_validation_names_field_and_range(field, value, words):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    assert f"TrainConfig.{field} must be" in str(err.value) and words in str(err.value)


def test_config_accepts_valid_values_and_serialises():
    c = TrainConfig(betas=[0.8, 0.95], device="cuda:1", budget_s=10, seed=0)
    assert c.betas == (0.8, 0.95)
    assert json.loads(json.dumps(c.to_dict()))["betas"] == [0.8, 0.95]


# ------------------------------------------------------------------------------------------------ resume
def test_resume_after_stop_is_bit_exact(tmp_path):
    straight = new(tmp_path / "a")
    straight.fit()
    new(tmp_path / "b").fit(stop_at=10)  # as if killed right after the step-10 checkpoint
    torch.manual_seed(123)  # neither the global RNG nor the new model's init may matter
    resumed = Trainer(Toy(), toy_loss, toy_batches, cfg(), tmp_path / "b")
    assert (resumed.step, resumed.epoch, resumed.index) == (10, 1, 3)
    resumed.fit()
    assert_same_training_state(straight, resumed)
    lines = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [5, 10, 15, 20]
    assert (tmp_path / "b" / "loss.png").exists()


def test_sigterm_checkpoints_and_resume_is_exact(tmp_path):
    straight = new(tmp_path / "a")
    straight.fit()
    calls = {"n": 0}

    def term_at_7(model, batch, generator):
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return toy_loss(model, batch, generator)

    before = signal.getsignal(signal.SIGTERM)
    s = new(tmp_path / "b", loss=term_at_7).fit()
    assert s["stopped"] == "signal" and s["steps"] == 7
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"] == 7
    resumed = new(tmp_path / "b", seed=5)
    resumed.fit()
    assert_same_training_state(straight, resumed)


def test_keyboard_interrupt_mid_step_checkpoints_last_whole_step(tmp_path):
    straight = new(tmp_path / "a")
    straight.fit()
    calls = {"n": 0}

    def interrupt_at_9(model, batch, generator):
        calls["n"] += 1
        noise = torch.randn(3, generator=generator)  # consume noise before the interrupt: must be rewound
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return toy_loss(model, batch, generator)[0] + 0 * noise.sum(), {}

    def same_stream(model, batch, generator):
        torch.randn(3, generator=generator)
        return toy_loss(model, batch, generator)[0], {}

    straight = new(tmp_path / "a2", loss=same_stream)
    straight.fit()
    with pytest.raises(KeyboardInterrupt):
        new(tmp_path / "b", loss=interrupt_at_9).fit()
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"] == 8
    resumed = new(tmp_path / "b", loss=same_stream)
    resumed.fit()
    assert_same_training_state(straight, resumed)


def test_metrics_lines_past_the_checkpoint_are_dropped_on_resume(tmp_path):
    new(tmp_path, ckpt_every=5).fit(stop_at=10)
    with open(tmp_path / "metrics.jsonl", "a") as fh:  # a run killed after logging step 15, before its checkpoint
        fh.write(json.dumps({"step": 15, "loss": 1.0}) + "\n" + '{"step": 1')
    new(tmp_path, ckpt_every=5).fit()
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]


# ------------------------------------------------------------------------------------------------ files
def test_run_folder_files(tmp_path):
    t = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=10), tmp_path,
                extra_state={"config": {"model": {"hidden": 16}}, "vocab": ["H", "C"]})
    s = t.fit()
    conf = json.loads((tmp_path / "config.json").read_text())
    assert conf["train"]["steps"] == 10 and conf["model"] == {"hidden": 16}
    rec = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("step", "epoch", "samples", "lr", "loss", "grad_norm", "mse", "steps_per_s", "samples_per_s",
                "skipped", "wall_s"):
        assert key in rec, key
    assert rec["samples"] == 80 == s["samples_seen"]  # batch length of a (x, y) tuple is x's leading dim
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    for key in ("model", "ema", "optimizer", "generators", "step", "epoch", "index", "elapsed", "config"):
        assert key in ck, key
    assert ck["config"]["steps"] == 10 and ck["extra"]["vocab"] == ["H", "C"]
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert not list(tmp_path.glob("*.tmp*"))


def test_checkpoint_is_atomic(tmp_path, monkeypatch):
    seen = []
    t = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=5), tmp_path, on_checkpoint=lambda tr: seen.append(tr.step))
    t.fit()
    assert seen == [5]
    before = (tmp_path / "checkpoint.pt").read_bytes()
    real_save = torch.save

    def dies_half_way(obj, fh, *a, **k):
        fh.write(before[: len(before) // 2])  # a partial file, then the disk fills up
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_half_way)
    t.step += 1
    with pytest.raises(OSError, match="disk full"):
        t.save()
    monkeypatch.setattr(torch, "save", real_save)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not list(tmp_path.glob("*.tmp*"))
    assert seen == [5]  # the callback only runs after a successful write


# ------------------------------------------------------------------------------------------------ errors
def test_mismatched_checkpoint_lists_the_keys(tmp_path):
    new(tmp_path, steps=2).fit()
    with pytest.raises(ValueError, match=r"does not match the model: .*shape mismatch \[.*net.0.weight: checkpoint \(16, 4\) vs model \(8, 4\)"):
        Trainer(Toy(hidden=8), toy_loss, toy_batches, cfg(steps=2), tmp_path)
    with pytest.raises(ValueError, match=r"missing \[head.bias, head.weight\]"):
        Trainer(Toy(extra=True), toy_loss, toy_batches, cfg(steps=2), tmp_path)


def test_corrupt_or_foreign_checkpoints_raise_naming_the_file(tmp_path):
    new(tmp_path / "a", steps=2).fit()
    good = (tmp_path / "a" / "checkpoint.pt").read_bytes()
    cases = {"garbage": b"not a checkpoint", "truncated": good[: len(good) // 2]}
    for name, data in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "checkpoint.pt").write_bytes(data)
        with pytest.raises(ValueError, match=f"cannot read checkpoint .*{name}.checkpoint.pt"):
            new(tmp_path / name, steps=2)
    (tmp_path / "foreign").mkdir()
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign" / "checkpoint.pt")
    with pytest.raises(ValueError, match="foreign.checkpoint.pt is not a unite_mol training checkpoint"):
        new(tmp_path / "foreign", steps=2)


def test_non_finite_losses_are_skipped_counted_then_fatal(tmp_path):
    calls = {"n": 0}

    def sometimes_nan(model, batch, generator):
        calls["n"] += 1
        loss, logs = toy_loss(model, batch, generator)
        return (loss * float("nan") if calls["n"] == 2 else loss), logs

    s = new(tmp_path / "a", loss=sometimes_nan, steps=5).fit()
    assert s["skipped"] == 1 and s["steps"] == 5 and calls["n"] == 6
    assert json.loads((tmp_path / "a" / "metrics.jsonl").read_text())["skipped"] == 1
    always_inf = lambda m, b, g: (toy_loss(m, b, g)[0] * float("inf"), {})  # noqa: E731
    with pytest.raises(RuntimeError, match="10 consecutive non-finite .* at step 0"):
        new(tmp_path / "b", loss=always_inf, steps=40).fit()


# ------------------------------------------------------------------------------------------------ budget
def test_budget_stops_checkpoints_and_counts_across_resumes(tmp_path):
    import time

    def slow(model, batch, generator):
        time.sleep(0.03)
        return toy_loss(model, batch, generator)

    s = new(tmp_path, loss=slow, steps=10**6, budget_s=0.3).fit()
    assert s["stopped"] == "budget" and 3 < s["steps"] < 50 and s["elapsed_s"] >= 0.3
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["step"] == s["steps"] and ck["elapsed"] >= 0.3
    again = new(tmp_path, loss=slow, steps=10**6, budget_s=0.3).fit()
    assert again["steps"] == s["steps"] and again["stopped"] == "budget"  # budget spent: nothing more
    with pytest.warns(UserWarning, match=r"changed TrainConfig fields \['budget_s'\]"):
        more = new(tmp_path, loss=slow, steps=10**6, budget_s=0.6)
    r = more.fit()
    assert r["steps"] > s["steps"] and 0.6 <= r["elapsed_s"] < 1.5


# ------------------------------------------------------------------------------------------------ maths
def test_ema_warmup_makes_short_runs_usable(tmp_path):
    t = new(tmp_path, steps=2, ema_decay=0.999)
    assert t.ema_decay_at(0) == pytest.approx(0.1) and t.ema_decay_at(10 ** 6) == 0.999
    # after 450 steps a plain 0.999 EMA still holds 0.999**450 = 64 % of the initial weights
    weight_of_init = 1.0
    for step in range(450):
        weight_of_init *= t.ema_decay_at(step)
    assert weight_of_init < 1e-3


def test_ema_follows_known_recursion(tmp_path):
    t = new(tmp_path, steps=2, ema_decay=0.75, ema_warmup=False)
    w0 = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.fit(stop_at=1)
    w1 = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.fit()
    w2 = t.model.state_dict()
    for k in w0:
        expected = 0.75 * (0.75 * w0[k] + 0.25 * w1[k]) + 0.25 * w2[k]
        torch.testing.assert_close(t.ema.state_dict()[k], expected, rtol=1e-6, atol=1e-7)
    ema = t.ema_model()
    assert not ema.training and all(p.requires_grad for p in ema.parameters())
    assert all(torch.equal(ema.state_dict()[k], t.ema.state_dict()[k]) for k in w0)


def test_lr_schedule_and_weight_decay_groups(tmp_path):
    t = new(tmp_path, steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert t.lr_at(0) == pytest.approx(0.1) and t.lr_at(9) == pytest.approx(1.0)
    assert t.lr_at(10) == pytest.approx(1.0) and t.lr_at(55) == pytest.approx(0.55)
    assert t.lr_at(100) == pytest.approx(0.1) and t.lr_at(10**4) == pytest.approx(0.1)
    c = new(tmp_path / "c", lr_schedule="constant", warmup_steps=0, lr=0.5)
    assert c.lr_at(0) == c.lr_at(99) == 0.5
    # budget-aware cosine: the larger of step progress and time progress drives the decay
    b = new(tmp_path / "b", steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1, lr_schedule="cosine-budget", budget_s=60.0)
    assert b.lr_at(10, elapsed=0.0) == pytest.approx(1.0)
    assert b.lr_at(10, elapsed=30.0) == pytest.approx(0.55) and b.lr_at(10, elapsed=600.0) == pytest.approx(0.1)
    assert b.lr_at(55, elapsed=1.0) == pytest.approx(0.55)  # steps ahead of time: the step fraction wins
    with pytest.raises(ValueError, match="needs a budget"):
        TrainConfig(lr_schedule="cosine-budget")
    decay, no_decay = t.opt.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) == 2 and len(no_decay["params"]) == 4  # 2 weights; 2 biases + LayerNorm w, b


def test_batches_move_and_report_their_length():
    @dataclasses.dataclass
    class Batch:
        x: torch.Tensor

        def to(self, device):
            return Batch(self.x.to(device))

        def __len__(self):
            return len(self.x)

    Pair = collections.namedtuple("Pair", "x y")
    cpu = torch.device("cpu")
    assert isinstance(move(Pair(torch.zeros(3), torch.ones(3)), cpu), Pair)
    assert set(move({"a": torch.zeros(2), "b": [torch.zeros(1)]}, cpu)) == {"a", "b"}
    assert isinstance(move(Batch(torch.zeros(5, 2)), cpu), Batch)
    assert batch_length(Batch(torch.zeros(5, 2))) == 5
    assert batch_length((torch.zeros(6, 2), torch.zeros(6))) == 6
    assert batch_length({"x": torch.zeros(4)}) == 4 and batch_length(object()) is None


def test_bf16_autocast_trains_fp32_weights_and_leaves_global_rng_alone(tmp_path):
    t = new(tmp_path, steps=3, amp="bf16")
    w0 = t.model.net[0].weight.detach().clone()
    rng = torch.get_rng_state()
    s = t.fit()
    assert torch.equal(torch.get_rng_state(), rng)
    assert s["steps"] == 3 and t.amp and t.model.net[0].weight.dtype == torch.float32
    assert not torch.equal(t.model.net[0].weight, w0)
    assert all(v.dtype == torch.float32 for v in t.ema.state_dict().values())


# ------------------------------------------------------------------------------------------------ DDP
DDP_SCRIPT = r"""
import json, sys, torch
sys.path.insert(0, {tests!r})
from test_trainer import Toy, toy_loss, toy_batches, cfg
from unite_mol.core.trainer import Trainer
def make(run):
    torch.manual_seed(0)
    return Trainer(Toy(), toy_loss, toy_batches, cfg(steps=6, log_every=2), run)
straight = make({run!r} + "/a"); straight.fit()
make({run!r} + "/b").fit(stop_at=3)
resumed = make({run!r} + "/b")
assert (resumed.step, resumed.epoch, resumed.index) == (3, 0, 3), (resumed.step, resumed.epoch, resumed.index)
summary = resumed.fit()
open({run!r} + f"/last{{resumed.rank}}.json", "w").write(json.dumps(summary["last"]))
for k, v in straight.model.state_dict().items():
    assert torch.equal(v, resumed.model.state_dict()[k]), k
torch.save(resumed.model.state_dict(), {run!r} + f"/rank{{resumed.rank}}.pt")
torch.distributed.destroy_process_group()
"""


def test_ddp_on_cpu_with_gloo(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "ddp.py"
    run = str(tmp_path / "run")
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), run=run))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "UNITE_MOL_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", str(script)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    a = torch.load(Path(run) / "rank0.pt", weights_only=True)
    b = torch.load(Path(run) / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ck = torch.load(Path(run) / "b" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 6 and ck["world_size"] == 2 and len(ck["generators"]) == 2
    assert not torch.equal(ck["generators"][0], ck["generators"][1])  # each rank draws its own noise
    recs = [json.loads(x) for x in (Path(run) / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 3, 4, 6] and recs[-1]["samples"] == 6 * 2 * 8
    last0, last1 = (json.loads((Path(run) / f"last{r}.json").read_text()) for r in (0, 1))
    assert last0 == last1 and last0["loss"] == pytest.approx(recs[-1]["loss"], abs=1e-5)  # averaged over ranks
