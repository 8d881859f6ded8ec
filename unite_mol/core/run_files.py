"""A training run's files: atomic checkpoint and text writes, state checks, ``metrics.jsonl`` and ``loss.png``.

Used by :class:`unite_mol.core.trainer.Trainer` and
by :mod:`unite_mol.model_files` (:func:`state_mismatch`).

Run folder (rank 0 writes everything)
    ``config.json``   resolved :class:`TrainConfig` (under ``"train"``) plus ``extra_state["config"]``.
    ``metrics.jsonl`` one line per log step: step, epoch, samples, lr, window means (over steps and
                      ranks) of loss / grad_norm / every ``logs`` key, steps_per_s, samples_per_s (when the batch length is known),
                      skipped (non-finite steps so far), wall_s (training wall-clock across resumes).
    ``loss.png``      log-scale curves of every logged key, redrawn at each checkpoint.
    ``checkpoint.pt`` model, EMA (fp32), optimiser, per-rank generator states, step / epoch / index,
                      elapsed seconds, samples seen, resolved config: plain tensors and containers only,
                      written to a temp file in the same folder then ``os.replace``-d, so it is never half
                      written, and it loads with ``torch.load(path, weights_only=True)``.
    ``on_checkpoint.json`` the step ``on_checkpoint`` last completed for (see the Trainer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unite_mol.files import atomic_open
from unite_mol.runtime import format_duration

#: ``metrics.jsonl`` keys that are counters or rates, not curves for ``loss.png``
NOT_PLOTTED = ("step", "epoch", "samples", "lr", "steps_per_s", "samples_per_s", "skipped", "wall_s")


def jsonable(obj: Any) -> Any:
    """Plain JSON types only (non-JSON leaves become strings), so checkpoints stay weights_only-loadable."""
    return json.loads(json.dumps(obj, default=str))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`unite_mol.files.atomic_open`: all or nothing."""
    with atomic_open(path) as fh:
        torch.save(obj, fh)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text through :func:`unite_mol.files.atomic_open`."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def state_mismatch(model: nn.Module, state: dict) -> str:
    """What keeps ``state`` from loading into ``model`` (missing, unexpected, mis-shaped keys); '' if nothing."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if not (missing or unexpected or shapes):
        return ""

    def show(keys: list[str]) -> str:
        return "[" + ", ".join(keys[:10]) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "") + "]"

    shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in shapes]
    return f"missing {show(missing)}, unexpected {show(unexpected)}, shape mismatch {show(shaped)}"


def check_state(model: nn.Module, state: Any, source: Any) -> None:
    """Raise a ValueError listing missing, unexpected and mis-shaped keys of ``state`` against ``model``."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"checkpoint {source}: the model entry is not a state_dict of tensors")
    problem = state_mismatch(model, state)
    if problem:
        raise ValueError(f"checkpoint {source} does not match the model: {problem}. Build the model with "
                         "the run's config, or train in a fresh run folder.")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines of ``metrics.jsonl`` past ``step`` (and a torn last line), so the log stays monotonic."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line from a kill mid-write
    if len(keep) != len(lines):
        atomic_write_text(path, "".join(x + "\n" for x in keep))


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines log, skipping lines that do not parse (a torn last line of a killed run)."""
    recs = []
    for line in Path(path).read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            continue
    return recs


def plot_losses(run_dir: Path) -> None:
    """Redraw ``run_dir/loss.png`` (log-scale curves of every logged key) from ``metrics.jsonl``; atomic."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend switch

    recs = read_jsonl(path)
    if not recs:
        return
    keys = sorted({k for r in recs for k, v in r.items() if k not in NOT_PLOTTED and isinstance(v, (int, float))})
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for k in keys:
        pts = [(r["step"], r[k]) for r in recs if isinstance(r.get(k), (int, float)) and r[k] > 0]
        if pts:
            ax.plot(*zip(*pts), label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(str(run_dir), fontsize=8)
    if ax.lines:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_open(run_dir / "loss.png") as fh:
        fig.savefig(fh, dpi=100, format="png")


def progress_text(config: Any, rec: dict[str, Any], step: int, last_step: int, elapsed: float) -> str:
    """The progress bar's postfix: loss, samples/s, and an ETA that honours ``config.budget_s``."""
    rate = rec["steps_per_s"]
    eta = (last_step - step) / rate if rate > 0 else float("inf")
    parts = [f"loss {rec['loss']:.4g}"]
    if "samples_per_s" in rec:
        parts.append(f"{rec['samples_per_s']:.0f} samples/s")
    if config.budget_s is not None:
        left = max(0.0, config.budget_s - elapsed)
        parts.append(f"budget left {format_duration(left)}")
        if left < eta:
            eta = left
            parts.append("(budget ends the run)")
    parts.append(f"eta {format_duration(eta)}")
    return " ".join(parts)
