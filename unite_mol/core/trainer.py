"""A domain-agnostic trainer: AdamW, LR schedule, EMA, bf16 autocast, atomic checkpoints, exact resume, DDP.

The molecule and image training commands both use it::

    trainer = Trainer(model, loss_fn, batches, TrainConfig(steps=10_000, budget_s=3600), "runs/x")
    summary = trainer.fit()
    ema = trainer.ema_model()

Contract
    * ``loss_fn(model, batch, generator) -> (loss, logs)``: the objective. The trainer never looks inside;
      ``loss_fn`` may call any method of the model (under DDP the whole objective is the wrapped forward).
    * ``batches(epoch) -> Sequence``: that epoch's batches, deterministic given the epoch (the caller seeds
      it). The trainer tracks (epoch, index in epoch) so a resumed run continues at exactly the next batch.
      Batches are moved with ``.to(device)`` (tensors, objects with ``.to``) or element-wise (tuples,
      lists, namedtuples, dicts).
    * Randomness: one ``torch.Generator`` on the training device, seeded from ``config.seed`` and the DDP
      rank, is passed to every ``loss_fn`` call. Its state is checkpointed (one per rank), so a run that
      is killed and resumed reproduces the uninterrupted CPU run bit for bit. The global RNG is not used.

Run folder (rank 0 writes everything): ``config.json``, ``metrics.jsonl``, ``loss.png``, ``checkpoint.pt`` and
``on_checkpoint.json``, as :mod:`unite_mol.core.run_files` describes.

What a checkpoint holds, how a run resumes from it and the ``on_checkpoint`` record are the Trainer's
:class:`~unite_mol.core.checkpoints.Checkpointing` half (:mod:`unite_mol.core.checkpoints`); the loop is here.

Constructing a Trainer on a folder that holds ``checkpoint.pt`` resumes it (model, optimiser, EMA,
generators, data position, elapsed budget); lines of ``metrics.jsonl`` past the checkpoint's step (a run
killed between a log line and the next checkpoint) are dropped so the log stays monotonic, and on a folder
without a checkpoint (a run killed before its first one) the old lines are dropped, so no step appears
twice.

``on_checkpoint`` (e.g. exporting the EMA model) runs after each checkpoint is written, and
``on_checkpoint.json`` records the step it last completed for. A run killed between the two leaves them
out of step; the next ``fit()`` on the folder (even one with nothing left to train) first runs
``on_checkpoint`` for the checkpoint it resumed, so what the hook exports always matches the checkpoint.

Checkpoints: every ``config.ckpt_every`` steps, ``config.first_ckpt_s`` seconds into each ``fit()`` (so a run
killed in its first minute keeps its steps) and then every ``config.ckpt_every_s`` seconds. ``fit()`` says on
stderr (rank 0) whether it starts fresh or resumes, and from which step.

FLOPs: with ``flop_steps=k`` the first ``k`` optimiser steps of the run are counted by torch's
``FlopCounterMode`` while they train (forward + backward of the whole objective, on the real batches, inside
the budget; the counts are checkpointed, so a resume does not count again); ``fit()`` returns their mean as
``flops_per_step``.

Stopping: at ``config.steps`` (or ``fit(stop_at=)``), after the step that crosses ``budget_s`` (counted
across resumes), or on SIGTERM; each checkpoints and returns. KeyboardInterrupt checkpoints and re-raises.

DDP: under ``torchrun`` (``WORLD_SIZE > 1``) the process group is initialised (nccl on CUDA, gloo on CPU)
unless the caller already did, the objective is wrapped in ``DistributedDataParallel``, and rank ``r``
takes batches ``r, r + W, r + 2W, ...`` of every epoch (the epoch is cut to a multiple of ``W`` so all ranks
step together). Per-step decisions (stop, time-based checkpoint, skip) are agreed across ranks. The
caller owns ``torch.distributed.destroy_process_group()``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from unite_mol.core.batches import Shard, batch_length, mean_over_ranks, move, sum_over_ranks
from unite_mol.core.checkpoints import Checkpointing
from unite_mol.core.run_files import atomic_write_text, progress_text, truncate_metrics
from unite_mol.core.train_config import LossFn, TrainConfig
from unite_mol.runtime import pick_device, use_bf16

__all__ = ["Trainer", "TrainConfig", "LossFn", "move", "batch_length"]

MAX_NONFINITE = 10


class _Objective(nn.Module):
    """``loss_fn`` as a module, so DDP wraps the whole objective and ``loss_fn`` sees the plain model."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any, generator: torch.Generator):
        return self.loss_fn(self.model, batch, generator)


# ----------------------------------------------------------------------------------------------- trainer
class Trainer(Checkpointing):
    """Runs ``loss_fn`` over ``batches`` with AdamW, warm-up + schedule, clipping, EMA, checkpoints, resume.

    Args:
        model: the network (moved to the training device; its parameters are trained in place).
        loss_fn: ``loss_fn(model, batch, generator) -> (loss, logs)``.
        batches: ``batches(epoch) -> Sequence`` of that epoch's batches, deterministic given the epoch.
        config: the :class:`TrainConfig`.
        run_dir: the run folder; if it holds ``checkpoint.pt`` the run resumes from it.
        extra_state: JSON-like metadata; ``extra_state["config"]`` is merged into ``config.json``; the whole
            dict is stored in the checkpoint under ``"extra"``.
        on_checkpoint: called as ``on_checkpoint(trainer)`` on rank 0 after every checkpoint.
        flop_steps: count the FLOPs of the run's first this many optimiser steps while they train (0: none).

    Attributes of note: ``model``, ``ema`` (fp32 EMA copy), ``step``, ``epoch``, ``index`` (next batch of
    this rank's shard of the epoch), ``elapsed`` (training seconds across resumes), ``samples_seen``,
    ``skipped``, ``generator``, ``device``, ``rank``, ``world``.

    Raises:
        ValueError: if ``checkpoint.pt`` in ``run_dir`` is corrupt, not a trainer checkpoint, or does not
            match the model (the message lists the mismatched keys).
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batches: Callable[[int], Sequence[Any]],
                 config: TrainConfig, run_dir: str | Path, *, extra_state: dict | None = None,
                 on_checkpoint: Callable[["Trainer"], None] | None = None, flop_steps: int = 0):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.config = config
        self.run_dir = Path(run_dir)
        self.loss_fn = loss_fn
        self.batches = batches
        self.on_checkpoint = on_checkpoint
        self.extra_state = dict(extra_state or {})
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = pick_device(config.device, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
        if self.world > 1 and config.lr_schedule == "cosine-budget":
            raise ValueError("lr_schedule='cosine-budget' reads each process's own clock, so DDP ranks would "
                             "disagree on the LR; use 'cosine' with a step count under torchrun")
        if self.world > 1 and not torch.distributed.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.world > 1:
            self.world, self.rank = torch.distributed.get_world_size(), torch.distributed.get_rank()

        self.model = model.to(self.device)
        self.ema = copy.deepcopy(self.model).float().eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self._ema_pairs = self._pair(self.ema.named_parameters(), self.model.named_parameters())
        self._ema_bufs = self._pair(self.ema.named_buffers(), self.model.named_buffers())
        groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                mult = next((m for prefix, m in config.lr_multipliers if name.startswith(prefix)), 1.0)
                groups.setdefault((mult, p.ndim >= 2), []).append(p)
        self.opt = torch.optim.AdamW([{"params": ps, "weight_decay": config.weight_decay if decay else 0.0,
                                       "lr_mult": mult}   # weight-decayed group first, as before multipliers existed
                                      for (mult, decay), ps in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1]))],
                                     lr=config.lr, betas=config.betas)
        self.objective = _Objective(self.model, loss_fn)
        self.ddp: nn.Module | None = None
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.objective, device_ids=ids,
                                                                 find_unused_parameters=True)
        self.amp = use_bf16(config.amp, self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed * 1000 + self.rank)
        self.step = 0
        self.epoch = 0
        self.index = 0
        self.elapsed = 0.0
        self.samples_seen = 0
        self.skipped = 0
        self.flop_steps = int(flop_steps)
        self.flop_counts: list[float] = []   # FLOPs of each counted step (forward + backward)
        self._saved_step = -1
        self._had_log = False                # a metrics.jsonl without a checkpoint: a run killed before its first
        self._stop_signal = False
        self.ckpt_path = self.run_dir / "checkpoint.pt"
        self.hook_path = self.run_dir / "on_checkpoint.json"
        if self.ckpt_path.exists():
            self._load()
        elif self.rank == 0:
            log = self.run_dir / "metrics.jsonl"
            self._had_log = log.exists() and bool(log.read_text().strip())
            truncate_metrics(log, self.step)  # a run killed before its first checkpoint starts again from step 0
        if self.rank == 0:
            atomic_write_text(self.run_dir / "config.json", json.dumps(
                {"train": config.to_dict(), **self.extra_state.get("config", {})}, indent=2, default=str))

    @staticmethod
    def _pair(ema_named, model_named) -> list[tuple[torch.Tensor, torch.Tensor]]:
        own = dict(model_named)
        return [(e, own[name]) for name, e in ema_named]

    def ema_model(self) -> nn.Module:
        """A copy of the model carrying the EMA weights (fp32), in eval mode, with the model's requires_grad flags."""
        m = copy.deepcopy(self.ema)
        flags = {n: p.requires_grad for n, p in self.model.named_parameters()}
        for n, p in m.named_parameters():
            p.requires_grad_(flags[n])
        return m.eval()

    def lr_at(self, step: int, elapsed: float = 0.0) -> float:
        """The LR of optimiser step ``step`` after ``elapsed`` seconds (:meth:`TrainConfig.lr_at`)."""
        return self.config.lr_at(step, elapsed)

    def ema_decay_at(self, step: int) -> float:
        """The EMA decay applied after optimiser step ``step`` (:meth:`TrainConfig.ema_decay_at`)."""
        return self.config.ema_decay_at(step)

    def _update_ema(self) -> None:
        w = 1.0 - self.ema_decay_at(self.step)
        for e, p in self._ema_pairs:
            e.lerp_(p.detach().to(e.dtype), w)
        for e, b in self._ema_bufs:
            e.copy_(b)

    def _epoch_batches(self, epoch: int) -> Sequence[Any]:
        """This rank's shard of ``batches(epoch)``: rank::world of the largest multiple of world."""
        full = self.batches(epoch)
        n = len(full) - len(full) % self.world
        if n == 0:
            raise ValueError(f"batches({epoch}) returned {len(full)} batches; need at least {self.world} "
                             f"(one per rank)")
        return full if self.world == 1 else Shard(full, self.rank, n, self.world)

    # ------------------------------------------------------------------------------------------ loop
    # long: the training loop in one piece, so that its per-step decisions (stop, checkpoint, skip, agreed
    # across ranks) read in the order they happen
    def fit(self, *, stop_at: int | None = None) -> dict[str, Any]:
        """Train to ``config.steps`` (or ``stop_at``, for a run in parts), the budget, or SIGTERM; checkpoint.

        Returns:
            ``{"steps", "epoch", "elapsed_s", "samples_seen", "skipped", "stopped", "last", "flops_per_step"}``:
            ``stopped`` is ``"steps"``, ``"stop_at"``, ``"budget"`` or ``"signal"``; ``last`` holds the last logged
            window means; ``flops_per_step`` the mean of the counted steps (``None`` if none was counted).

        Raises:
            RuntimeError: after ``MAX_NONFINITE`` (10) consecutive non-finite losses or gradient norms, naming
                the step (the last good checkpoint is left as it was).
            ValueError: if ``batches(epoch)`` has fewer batches than ranks.
            KeyboardInterrupt: re-raised after checkpointing the last completed step (an interrupted step
                is rewound: its batch and noise are used again on resume).
        """
        c = self.config
        if self._hook_behind() and self.step == self._saved_step:
            self._run_hook()  # a kill between the checkpoint and its hook: catch up before anything else
        last_step = c.steps if stop_at is None else min(c.steps, stop_at)
        self._stop_signal = False
        old_handler = None
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
            old_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        quiet = os.environ.get("UNITE_MOL_NO_PROGRESS") == "1"
        if self.rank == 0:   # always said (not progress): whether the steps of an earlier run were kept
            print(self.start_message(), file=sys.stderr, flush=True)
        show_bar = self.rank == 0 and not quiet and sys.stderr.isatty()
        print_lines = self.rank == 0 and not quiet and not show_bar
        from tqdm import tqdm

        bar = tqdm(total=last_step, initial=self.step, disable=not show_bar, unit="step", dynamic_ncols=True,
                   desc=self.run_dir.name)
        window: dict[str, list[float]] = {}
        last_logs: dict[str, float] = {}
        window_t, window_steps, window_samples = time.monotonic(), 0, 0
        from torch.utils.flop_counter import FlopCounterMode

        last_ckpt_t = time.monotonic()
        ckpt_interval = c.first_ckpt_s    # the first checkpoint of this fit() comes early, then every ckpt_every_s
        start = time.monotonic() - self.elapsed
        consecutive_bad = 0
        stopped = "stop_at" if stop_at is not None and stop_at < c.steps else "steps"
        if c.budget_s is not None and self.elapsed >= c.budget_s:
            stopped, last_step = "budget", self.step
        batches = self._epoch_batches(self.epoch) if self.step < last_step else []
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        mark = None
        try:
            while self.step < last_step:
                mark = (self.step, self.epoch, self.index, self.generator.get_state())
                if self.index >= len(batches):
                    self.epoch += 1
                    self.index = 0
                    batches = self._epoch_batches(self.epoch)
                batch = move(batches[self.index], self.device)
                self.index += 1
                lr = self.lr_at(self.step, time.monotonic() - start)
                for g in self.opt.param_groups:
                    g["lr"] = lr * g.get("lr_mult", 1.0)
                counter = FlopCounterMode(display=False) if len(self.flop_counts) < self.flop_steps else None
                with counter if counter is not None else contextlib.nullcontext():
                    with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                        if self.ddp is not None:
                            loss, logs = self.ddp(batch, self.generator)
                        else:
                            loss, logs = self.loss_fn(self.model, batch, self.generator)
                    finite = bool(torch.isfinite(loss.detach()).all())
                    if finite or self.ddp is not None:  # DDP: every rank runs backward so the collectives match
                        loss.backward()
                gnorm = torch.tensor(float("nan"))
                if finite or self.ddp is not None:
                    gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
                n = batch_length(batch) or 0
                self.elapsed = time.monotonic() - start
                budget_hit = c.budget_s is not None and self.elapsed >= c.budget_s
                time_due = self.rank == 0 and time.monotonic() - last_ckpt_t > ckpt_interval
                # one small collective per step: skip / stop / checkpoint decisions are the same on all ranks
                bad, stop_sig, stop_budget, due, n_all = sum_over_ranks(self.world, self.device,
                    int(not (finite and bool(torch.isfinite(gnorm)))), int(self._stop_signal), int(budget_hit),
                    int(time_due), n)
                if bad:
                    self.opt.zero_grad(set_to_none=True)
                    self.skipped += 1
                    consecutive_bad += 1
                    if consecutive_bad >= MAX_NONFINITE:
                        raise RuntimeError(f"{MAX_NONFINITE} consecutive non-finite losses or gradient norms, the "
                                           f"last at step {self.step} (epoch {self.epoch}, batch {self.index - 1}); "
                                           f"lower the LR or check the data. Last checkpoint: step {self._saved_step}")
                else:
                    self.opt.step()
                    self.opt.zero_grad(set_to_none=True)
                    self._update_ema()
                    self.step += 1
                    consecutive_bad = 0
                    self.samples_seen += n_all
                    if counter is not None:
                        self.flop_counts.append(float(counter.get_total_flops()))
                        if len(self.flop_counts) == self.flop_steps and print_lines:
                            print(f"FLOPs per training step: {self.flops_per_step() / 1e9:.4g} GFLOP (mean of the first "
                                  f"{self.flop_steps}, counted while they trained)", file=sys.stderr, flush=True)
                    window_steps += 1
                    window_samples += n_all
                    for key, v in {"loss": float(loss.detach()), "grad_norm": float(gnorm), **logs}.items():
                        window.setdefault(key, []).append(float(v))
                    bar.update(1)
                    # also the last step of this fit (budget, signal, last step): a short run still leaves a curve
                    if self.step % c.log_every == 0 or stop_sig or stop_budget or self.step >= last_step:
                        now = time.monotonic()
                        dt = max(now - window_t, 1e-9)
                        last_logs = mean_over_ranks(self.world, {k: sum(v) / len(v) for k, v in window.items()})
                        rec = {"step": self.step, "epoch": self.epoch, "samples": self.samples_seen, "lr": lr,
                               **{k: round(v, 6) for k, v in last_logs.items()},
                               "steps_per_s": round(window_steps / dt, 4),
                               **({"samples_per_s": round(window_samples / dt, 2)} if window_samples else {}),
                               "skipped": self.skipped, "wall_s": round(self.elapsed, 2)}
                        window, window_t, window_steps, window_samples = {}, now, 0, 0
                        if self.rank == 0:
                            with open(self.run_dir / "metrics.jsonl", "a") as fh:
                                fh.write(json.dumps(rec) + "\n")
                            text = progress_text(self.config, rec, self.step, last_step, self.elapsed)
                            bar.set_postfix_str(text)
                            if print_lines:
                                print(f"step {self.step}/{last_step} {rec['steps_per_s']:.2f} steps/s wall "
                                      f"{self.elapsed:.0f}s {text}", file=sys.stderr, flush=True)
                    if self.step % c.ckpt_every == 0 or due:
                        self.save()
                        last_ckpt_t = time.monotonic()
                        ckpt_interval = c.ckpt_every_s
                if stop_sig or stop_budget:
                    stopped = "signal" if stop_sig else "budget"
                    break
        except KeyboardInterrupt:
            if mark is not None and self.step == mark[0]:  # interrupted mid-step: rewind to the last whole step
                self.epoch, self.index = mark[1], mark[2]
                self.generator.set_state(mark[3])
            if self.step != self._saved_step:
                self.save(collective=False)
            raise
        finally:
            bar.close()
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
        if self.step != self._saved_step:
            self.save()
        return {"steps": self.step, "epoch": self.epoch, "elapsed_s": self.elapsed, "samples_seen": self.samples_seen,
                "skipped": self.skipped, "stopped": stopped, "last": last_logs, "flops_per_step": self.flops_per_step()}

    def flops_per_step(self) -> float | None:
        """Mean FLOPs of the counted steps (forward + backward), ``None`` before the first was counted."""
        return sum(self.flop_counts) / len(self.flop_counts) if self.flop_counts else None

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._stop_signal = True
