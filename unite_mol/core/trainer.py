"""A domain-agnostic trainer: AdamW, LR schedule, EMA, bf16 autocast, atomic checkpoints, exact resume, DDP.

Used by the molecule and image training commands alike::

    trainer = Trainer(model, loss_fn, batches, TrainConfig(steps=10_000, budget_s=3600), "runs/x")
    trainer.fit()

* ``loss_fn(model, batch, generator) -> (loss, logs)``: the objective; the trainer never looks inside.
* ``batches(epoch) -> Sequence``: that epoch's batches, deterministic given the epoch. The trainer
  tracks (epoch, index) so that a resumed run continues at exactly the next batch.
* One ``torch.Generator`` seeded from ``config.seed`` (and the DDP rank) is passed to every step; its
  state is checkpointed, so kill + resume reproduces an uninterrupted CPU run bit for bit.

The run folder holds ``config.json``, ``metrics.jsonl`` (one line per log step), ``loss.png`` and
``checkpoint.pt`` (written atomically; loads with ``torch.load(weights_only=True)``). Constructing a
Trainer on a folder with a checkpoint resumes it. Under ``torchrun`` (``WORLD_SIZE > 1``) the model is
wrapped in DistributedDataParallel, each rank takes every ``world_size``-th batch, and rank 0 writes.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

LossFn = Callable[[nn.Module, Any, torch.Generator], tuple[torch.Tensor, dict[str, float]]]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 10_000              # optimiser steps (also the length of the LR schedule)
    budget_s: float | None = None    # wall-clock budget across resumes; the run checkpoints and stops
    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 500
    lr_schedule: str = "cosine"      # "cosine" (to min_lr_ratio * lr at `steps`) or "constant"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 500
    ckpt_every_s: float = 600.0
    amp: str = "auto"                # "auto" | "bf16" | "off"
    device: str = "auto"             # "auto" | "cpu" | "cuda[:k]" | "mps"

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"TrainConfig.{msg}")

        need(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        need(self.budget_s is None or self.budget_s > 0, f"budget_s must be > 0 or None, got {self.budget_s}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), f"betas must be two numbers in [0, 1), got {self.betas}")
        need(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        need(self.lr_schedule in ("cosine", "constant"), f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        need(0 <= self.min_lr_ratio <= 1, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        need(self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip}")
        need(0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        need(self.log_every >= 1 and self.ckpt_every >= 1, "log_every and ckpt_every must be >= 1")
        need(self.ckpt_every_s > 0, f"ckpt_every_s must be > 0, got {self.ckpt_every_s}")
        need(self.amp in ("auto", "bf16", "off"), f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """AVX-512 BF16 / AMX on this CPU (bf16 matmuls then run at about twice the fp32 rate)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def move(batch: Any, device: torch.device) -> Any:
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(move(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move(v, device) for k, v in batch.items()}
    return batch


def atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def check_state(model: nn.Module, state: dict[str, torch.Tensor], source: Any) -> None:
    """ValueError listing missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        raise ValueError(f"checkpoint {source} does not match the model: missing {missing[:6]}, unexpected "
                         f"{unexpected[:6]}, shape mismatch {[(k, tuple(state[k].shape), tuple(own[k].shape)) for k in shapes[:6]]}")


class Trainer:
    """Runs ``loss_fn`` over ``batches`` with AdamW, EMA, checkpoints and resume (see module docstring).

    Raises:
        ValueError: if the run folder's checkpoint is corrupt or does not match the model.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batches: Callable[[int], Sequence[Any]], config: TrainConfig,
                 run_dir: str | Path, *, extra_state: dict | None = None, on_checkpoint: Callable[["Trainer"], None] | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.loss_fn = loss_fn
        self.batches = batches
        self.on_checkpoint = on_checkpoint
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(config.device)
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            torch.distributed.init_process_group(backend)
        self.model = model.to(self.device)
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        decay, no_decay = [], []
        for p in self.model.parameters():
            (decay if p.ndim >= 2 else no_decay).append(p)
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=tuple(config.betas))
        self.ddp = (torch.nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=True)
                    if self.world > 1 else None)
        if config.amp == "off":
            self.amp = False
        elif config.amp == "bf16":
            self.amp = True
        else:
            self.amp = self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_fast_bf16())
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed * 1000 + self.rank)
        self.step = 0
        self.epoch = 0
        self.index = 0
        self.elapsed = 0.0
        self.samples_seen = 0
        self.extra_state = extra_state or {}
        self.ckpt_path = self.run_dir / "checkpoint.pt"
        if self.ckpt_path.exists():
            self._load()
        elif self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / "config.json", json.dumps(
                {"train": config.to_dict(), **self.extra_state.get("config", {})}, indent=2, default=str))

    # -------------------------------------------------------------------------------- state
    def _load(self) -> None:
        try:
            ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt files; keep its message
            raise ValueError(f"cannot read checkpoint {self.ckpt_path} (corrupt or not a unite_mol checkpoint): {exc}") from exc
        if not isinstance(ck, dict) or "model" not in ck:
            raise ValueError(f"{self.ckpt_path} is not a unite_mol training checkpoint")
        check_state(self.model, ck["model"], self.ckpt_path)
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.opt.load_state_dict(ck["optimizer"])
        self.generator.set_state(ck["generator"].to(torch.uint8) if self.device.type == "cpu" else ck["generator"])
        self.step, self.epoch, self.index = int(ck["step"]), int(ck["epoch"]), int(ck["index"])
        self.elapsed = float(ck["elapsed"])
        self.samples_seen = int(ck.get("samples_seen", 0))

    def save(self) -> None:
        """Write the checkpoint atomically (rank 0), refresh the loss plot, call ``on_checkpoint``."""
        if self.rank != 0:
            return
        state = {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.opt.state_dict(),
                 "generator": self.generator.get_state(), "step": self.step, "epoch": self.epoch, "index": self.index,
                 "elapsed": self.elapsed, "samples_seen": self.samples_seen}
        atomic_torch_save(state, self.ckpt_path)
        self.plot()
        if self.on_checkpoint is not None:
            self.on_checkpoint(self)

    def ema_model(self) -> nn.Module:
        """A copy of the model carrying the EMA weights."""
        return copy.deepcopy(self.ema)

    def lr_at(self, step: int) -> float:
        c = self.config
        if c.warmup_steps and step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        if c.lr_schedule == "constant":
            return c.lr
        frac = min(1.0, (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps))
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.config.ema_decay
        own = dict(self.model.named_parameters())
        for name, e in self.ema.named_parameters():
            e.lerp_(own[name].detach(), 1 - d)
        bufs = dict(self.model.named_buffers())
        for name, e in self.ema.named_buffers():
            e.copy_(bufs[name])

    # -------------------------------------------------------------------------------- loop
    def fit(self, *, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``steps`` (or ``stop_at``, for a run in parts) or ``budget_s``; checkpoint at the end.

        Returns a summary: steps, epoch, elapsed_s, samples_seen, skipped steps, the last logged values.
        """
        from tqdm import tqdm

        c = self.config
        stop = {"flag": False}
        old_handler = None
        if self.rank == 0 and hasattr(signal, "SIGTERM"):
            try:
                old_handler = signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__("flag", True))
            except ValueError:  # not the main thread
                old_handler = None
        show = self.rank == 0 and os.environ.get("UNITE_MOL_NO_PROGRESS") != "1" and sys.stderr.isatty()
        bar = tqdm(total=c.steps, initial=self.step, disable=not show, unit="step", dynamic_ncols=True)
        window: dict[str, list[float]] = {}
        t_last_ckpt = time.time()
        t_window = time.time()
        skipped = 0
        nonfinite_run = 0
        start = time.time() - self.elapsed
        batches = self.batches(self.epoch)
        last_logs: dict[str, float] = {}
        self.model.train()
        try:
            last_step = c.steps if stop_at is None else min(c.steps, stop_at)
            while self.step < last_step and not stop["flag"]:
                if c.budget_s is not None and self.elapsed >= c.budget_s:
                    break
                if self.index >= len(batches):
                    self.epoch += 1
                    self.index = 0
                    batches = self.batches(self.epoch)
                    if len(batches) == 0:
                        raise ValueError(f"batches({self.epoch}) is empty")
                k = self.index
                self.index += 1
                if self.world > 1 and k % self.world != self.rank:
                    continue
                batch = move(batches[k], self.device)
                for g in self.opt.param_groups:
                    g["lr"] = self.lr_at(self.step)
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    loss, logs = self.loss_fn(self.ddp or self.model, batch, self.generator)
                if not torch.isfinite(loss):
                    skipped += 1
                    nonfinite_run += 1
                    self.opt.zero_grad(set_to_none=True)
                    if nonfinite_run >= 10:
                        raise RuntimeError(f"10 consecutive non-finite losses, last at step {self.step}")
                    continue
                nonfinite_run = 0
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
                self.opt.step()
                self._update_ema()
                self.step += 1
                n = len(batch) if hasattr(batch, "__len__") else 0
                self.samples_seen += n * self.world
                self.elapsed = time.time() - start
                for key, v in {"loss": float(loss.detach()), "grad_norm": float(gnorm), **logs}.items():
                    window.setdefault(key, []).append(float(v))
                bar.update(1)
                if self.step % c.log_every == 0:
                    now = time.time()
                    rate = c.log_every / max(now - t_window, 1e-9)
                    t_window = now
                    last_logs = {key: sum(v) / len(v) for key, v in window.items()}
                    window = {}
                    rec = {"step": self.step, "epoch": self.epoch, "samples": self.samples_seen, "lr": self.lr_at(self.step - 1),
                           **{k: round(v, 6) for k, v in last_logs.items()}, "steps_per_s": round(rate, 4),
                           "skipped": skipped, "wall_s": round(self.elapsed, 1)}
                    if self.rank == 0:
                        with open(self.run_dir / "metrics.jsonl", "a") as fh:
                            fh.write(json.dumps(rec) + "\n")
                    left = "" if c.budget_s is None else f" budget left {max(0.0, c.budget_s - self.elapsed) / 60:.1f} min"
                    bar.set_postfix_str(f"loss {last_logs['loss']:.4g} {rate * n * self.world:.0f} samples/s{left}")
                    if not show and self.rank == 0:
                        print(f"step {self.step}/{c.steps} loss {last_logs['loss']:.4g} {rate:.2f} steps/s "
                              f"wall {self.elapsed:.0f}s{left}", file=sys.stderr, flush=True)
                if self.step % c.ckpt_every == 0 or time.time() - t_last_ckpt > c.ckpt_every_s:
                    self.save()
                    t_last_ckpt = time.time()
        except KeyboardInterrupt:
            self.save()
            raise
        finally:
            bar.close()
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
        self.save()
        return {"steps": self.step, "epoch": self.epoch, "elapsed_s": self.elapsed, "samples_seen": self.samples_seen,
                "skipped": skipped, "last": last_logs}

    def plot(self) -> None:
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        keys = [k for k in recs[-1] if k not in ("step", "epoch", "samples", "lr", "steps_per_s", "skipped", "wall_s")
                and all(isinstance(r.get(k, 0), (int, float)) for r in recs)]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        steps = [r["step"] for r in recs]
        for k in keys:
            ys = [r.get(k) for r in recs]
            pts = [(s, y) for s, y in zip(steps, ys) if y is not None and y > 0]
            if pts:
                ax.plot(*zip(*pts), label=k)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, ncol=2)
        ax.set_title(str(self.run_dir))
        fig.tight_layout()
        tmp = self.run_dir / "loss.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, self.run_dir / "loss.png")
