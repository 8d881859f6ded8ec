"""The shared trainer: config validation, exact resume, atomic checkpoints, errors, budget, EMA, DDP."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from unite_mol.core.trainer import TrainConfig, Trainer


class Toy(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


def toy_loss(model, batch, generator):
    x, y = batch
    noise = torch.randn(x.shape, generator=generator) * 0.01   # uses the checkpointed generator
    loss = ((model(x + noise) - y) ** 2).mean()
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


def test_config_validation():
    with pytest.raises(ValueError, match="lr must be > 0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="amp must be"):
        TrainConfig(amp="fp8")
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


def test_resume_after_stop_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    straight = Trainer(Toy(), toy_loss, toy_batches, cfg(), tmp_path / "a")
    straight.fit()
    torch.manual_seed(0)
    Trainer(Toy(), toy_loss, toy_batches, cfg(), tmp_path / "b").fit(stop_at=10)  # as if killed after step 10
    torch.manual_seed(123)  # the global RNG must not matter
    resumed = Trainer(Toy(), toy_loss, toy_batches, cfg(), tmp_path / "b")
    assert resumed.step == 10 and resumed.index == 3 and resumed.epoch == 1
    resumed.fit()
    for name, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[name]), name
    for name, v in straight.ema.state_dict().items():
        assert torch.equal(v, resumed.ema.state_dict()[name]), name
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and (tmp_path / "b" / "loss.png").exists()


def test_checkpoint_is_atomic_and_safe_to_load(tmp_path, monkeypatch):
    t = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=5), tmp_path)
    t.fit()
    before = (tmp_path / "checkpoint.pt").read_bytes()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 5

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        t.save()
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_mismatched_and_corrupt_checkpoints_raise(tmp_path):
    Trainer(Toy(), toy_loss, toy_batches, cfg(steps=2), tmp_path / "a").fit()
    with pytest.raises(ValueError, match="does not match the model: .*shape mismatch"):
        Trainer(Toy(hidden=8), toy_loss, toy_batches, cfg(steps=2), tmp_path / "a")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint .*checkpoint.pt"):
        Trainer(Toy(), toy_loss, toy_batches, cfg(steps=2), tmp_path / "c")


def test_budget_stops_and_counts_across_resumes(tmp_path):
    t = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=10**6, budget_s=0.5), tmp_path)
    s = t.fit()
    assert 0 < s["steps"] < 10**6 and s["elapsed_s"] >= 0.5
    again = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=10**6, budget_s=0.5), tmp_path)
    assert again.fit()["steps"] == s["steps"]  # budget already spent: nothing more


def test_ema_follows_known_recursion(tmp_path):
    t = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=1, ema_decay=0.5), tmp_path)
    w0 = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.fit()
    for k, v in t.model.state_dict().items():
        torch.testing.assert_close(t.ema.state_dict()[k], 0.5 * w0[k] + 0.5 * v)


def test_non_finite_losses_are_skipped_then_fatal(tmp_path):
    calls = {"n": 0}

    def sometimes_nan(model, batch, generator):
        calls["n"] += 1
        loss, logs = toy_loss(model, batch, generator)
        return (loss * float("nan") if calls["n"] == 2 else loss), logs

    s = Trainer(Toy(), sometimes_nan, toy_batches, cfg(steps=4), tmp_path / "a").fit()
    assert s["skipped"] == 1 and s["steps"] == 4
    always_nan = lambda m, b, g: (toy_loss(m, b, g)[0] * float("nan"), {})  # noqa: E731
    with pytest.raises(RuntimeError, match="10 consecutive non-finite losses"):
        Trainer(Toy(), always_nan, toy_batches, cfg(steps=40), tmp_path / "b").fit()


DDP_SCRIPT = r"""
import sys, torch
sys.path.insert(0, {tests!r})
from test_trainer import Toy, toy_loss, toy_batches, cfg
from unite_mol.core.trainer import Trainer
torch.manual_seed(0)
t = Trainer(Toy(), toy_loss, toy_batches, cfg(steps=6), {run!r})
t.fit()
torch.save(t.model.state_dict(), {run!r} + f"/rank{{t.rank}}.pt")
torch.distributed.destroy_process_group()
"""


def test_ddp_on_cpu_with_gloo(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "ddp.py"
    run = str(tmp_path / "run")
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), run=run))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", str(script)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    a = torch.load(Path(run) / "rank0.pt", weights_only=True)
    b = torch.load(Path(run) / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (Path(run) / "checkpoint.pt").exists()
