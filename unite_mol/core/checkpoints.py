"""A training run's checkpoint state: what :class:`unite_mol.core.trainer.Trainer` saves, restores and says.

:class:`Checkpointing` is the half of the Trainer that deals with ``checkpoint.pt`` and ``on_checkpoint.json``
(the loop is in :mod:`unite_mol.core.trainer`): the checkpoint contents (:meth:`~Checkpointing.state_dict`),
resuming from them (model, optimiser, EMA, generators, data position, elapsed budget, FLOP counts), the atomic
save with its ``on_checkpoint`` hook and the record of the step the hook last completed for, and the first
line ``fit()`` prints (resuming or starting fresh). It is a mixin: it reads and sets the Trainer's attributes
(``model``, ``ema``, ``opt``, ``generator``, ``config``, ``run_dir``, ``ckpt_path``, ``hook_path``, ``device``,
``rank``, ``world``, the counters), which ``Trainer.__init__`` defines.

A checkpoint resumed on another device type or world size cannot restore the noise generators as saved;
they are then reseeded from (seed, rank, step) by :func:`mixed_seed`, with a warning that the resume is not
bit-exact.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import torch

from unite_mol.core.run_files import atomic_torch_save, atomic_write_text, check_state, jsonable, plot_losses, \
    truncate_metrics

__all__ = ["CHECKPOINT_FORMAT", "Checkpointing", "mixed_seed"]

CHECKPOINT_FORMAT = "unite_mol.trainer/2"


def mixed_seed(seed: int, rank: int, step: int = 0) -> int:
    """A generator seed from (seed, rank, step), for a resume that cannot restore the saved generator state."""
    return ((seed * 1_000_003 + rank) * 1_000_033 + step) % (2**63)


class Checkpointing:
    """Save, restore and report the Trainer's checkpoint (a mixin of :class:`~unite_mol.core.trainer.Trainer`)."""

    def state_dict(self, generators: list[torch.Tensor] | None = None) -> dict[str, Any]:
        """The checkpoint contents (plain tensors and containers; ``weights_only``-loadable)."""
        return {"format": CHECKPOINT_FORMAT, "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(),
                "generators": generators if generators is not None else [self.generator.get_state()],
                "generator_device": self.device.type, "world_size": self.world,
                "step": self.step, "epoch": self.epoch, "index": self.index, "elapsed": self.elapsed,
                "samples_seen": self.samples_seen, "skipped": self.skipped, "flop_counts": list(self.flop_counts),
                "config": self.config.to_dict(), "extra": jsonable(self.extra_state),
                "torch_version": str(torch.__version__)}

    def _load(self) -> None:
        path = self.ckpt_path
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for truncated / foreign files; keep its message
            raise ValueError(f"cannot read checkpoint {path} (corrupt, truncated or not a torch file): "
                             f"{type(exc).__name__}: {exc}. Delete it to start afresh.") from exc
        need = ("model", "ema", "optimizer", "step", "epoch", "index", "elapsed")
        if not isinstance(ck, dict) or any(k not in ck for k in need) or not ("generators" in ck or "generator" in ck):
            have = sorted(ck) if isinstance(ck, dict) else type(ck).__name__
            raise ValueError(f"{path} is not a unite_mol training checkpoint (needs {list(need)} and generator "
                             f"state; has {have})")
        check_state(self.model, ck["model"], path)
        check_state(self.ema, ck["ema"], f"{path} (EMA)")
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        try:
            self.opt.load_state_dict(ck["optimizer"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ValueError(f"checkpoint {path}: optimiser state does not match the model's trainable "
                             f"parameters ({exc})") from exc
        self.step, self.epoch, self.index = int(ck["step"]), int(ck["epoch"]), int(ck["index"])
        self.elapsed = float(ck["elapsed"])
        self.samples_seen = int(ck.get("samples_seen", 0))
        self.skipped = int(ck.get("skipped", 0))
        self.flop_counts = [float(f) for f in ck.get("flop_counts", [])]
        self._saved_step = self.step
        gens = ck["generators"] if "generators" in ck else [ck["generator"]]
        same_device = ck.get("generator_device", "cpu") == self.device.type
        if same_device and len(gens) == self.world:
            self.generator.set_state(gens[self.rank].to(torch.uint8).cpu())
        else:
            warnings.warn(f"{path}: saved on {ck.get('generator_device', 'cpu')} with world size "
                          f"{ck.get('world_size', 1)}; resuming on {self.device.type} with world size {self.world}, "
                          "so the noise generator is reseeded from (seed, rank, step) and the resume is not "
                          "bit-exact", stacklevel=3)
            self.generator.manual_seed(mixed_seed(self.config.seed, self.rank, self.step))
        old = ck.get("config")
        if isinstance(old, dict):
            changed = sorted(k for k, v in self.config.to_dict().items() if k in old and old[k] != v)
            if changed:
                warnings.warn(f"{path}: resuming with changed TrainConfig fields {changed}", stacklevel=3)
        if self.rank == 0:
            truncate_metrics(self.run_dir / "metrics.jsonl", self.step)

    def save(self, *, collective: bool = True) -> None:
        """Checkpoint atomically, redraw ``loss.png`` and call ``on_checkpoint`` (files on rank 0 only).

        Under DDP this gathers every rank's generator state, so all ranks must call it together unless
        ``collective=False`` (used on KeyboardInterrupt; other ranks are then reseeded on resume).
        """
        gens = [self.generator.get_state()]
        if self.world > 1 and collective:
            gathered: list[Any] = [None] * self.world
            torch.distributed.all_gather_object(gathered, gens[0])
            gens = gathered
        if self.rank != 0:
            self._saved_step = self.step
            return
        atomic_torch_save(self.state_dict(gens), self.ckpt_path)
        self._saved_step = self.step
        self.plot()
        self._run_hook()

    def _run_hook(self) -> None:
        """``on_checkpoint(self)``, then record in ``on_checkpoint.json`` that it completed for this step."""
        if self.on_checkpoint is None:
            return
        self.on_checkpoint(self)
        atomic_write_text(self.hook_path, json.dumps({"step": self.step}))

    def _hook_behind(self) -> bool:
        """Whether ``on_checkpoint`` has not completed for the checkpoint this trainer resumed."""
        if self.on_checkpoint is None or self._saved_step < 0 or self.rank != 0:
            return False
        try:
            done = json.loads(self.hook_path.read_text()).get("step")
        except (OSError, ValueError, AttributeError):
            return True  # never recorded (killed before it, or a run folder from before this file existed)
        return done != self._saved_step

    def start_message(self) -> str:
        """What ``fit()`` says first: resuming (from which step) or starting fresh (and whether steps were lost)."""
        where = self.run_dir
        if self._saved_step >= 0:
            budget = f" of {self.config.budget_s:.0f} s budget" if self.config.budget_s is not None else ""
            return (f"{where}: resuming from step {self.step} (epoch {self.epoch}, {self.elapsed:.0f} s{budget} "
                    f"used) from {self.ckpt_path.name}")
        if self._had_log:
            return (f"{where}: starting fresh from step 0: the earlier run in this folder stopped before its first "
                    f"checkpoint, so its steps are lost (its metrics.jsonl lines were dropped)")
        return f"{where}: starting fresh from step 0 (no checkpoint yet)"

    def plot(self) -> None:
        """Redraw ``loss.png`` from ``metrics.jsonl`` (:func:`unite_mol.core.run_files.plot_losses`)."""
        plot_losses(self.run_dir)
