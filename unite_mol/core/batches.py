"""Batches as the trainer sees them (moved to a device, counted, sharded across DDP ranks), and the
small collectives the ranks agree with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def move(batch: Any, device: torch.device) -> Any:
    """``batch.to(device)`` if it has ``.to``; else element-wise through tuples, namedtuples, lists, dicts."""
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move(b, device) for b in batch)
    if isinstance(batch, dict):
        return type(batch)((k, move(v, device)) for k, v in batch.items())
    return batch


def batch_length(batch: Any) -> int | None:
    """Samples in a batch: leading dim of a tensor, ``len()`` of a batch object, else of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else None
    if isinstance(batch, (list, tuple)):
        return batch_length(batch[0]) if len(batch) else None
    if isinstance(batch, dict):
        return batch_length(next(iter(batch.values()))) if batch else None
    if hasattr(batch, "__len__"):
        return len(batch)
    return None


class Shard(Sequence):
    """A lazy ``full[start:stop:step]`` (batches are often collated on access: do not materialise them)."""

    def __init__(self, full: Sequence[Any], start: int, stop: int, step: int):
        self.full, self.range = full, range(start, stop, step)

    def __len__(self) -> int:
        return len(self.range)

    def __getitem__(self, i: int) -> Any:
        return self.full[self.range[i]]


def sum_over_ranks(world: int, device: torch.device, *values: int) -> list[int]:
    """Sum small integers over ranks (identity without DDP)."""
    if world == 1:
        return list(values)
    dev = device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.int64, device=dev)
    torch.distributed.all_reduce(t)
    return [int(v) for v in t.tolist()]


def mean_over_ranks(world: int, logs: dict[str, float]) -> dict[str, float]:
    """Average each logged value over the ranks that logged it (identity without DDP)."""
    if world == 1:
        return logs
    every: list[Any] = [None] * world
    torch.distributed.all_gather_object(every, logs)
    keys = list(dict.fromkeys(k for d in every for k in d))
    return {k: sum(d[k] for d in every if k in d) / sum(k in d for d in every) for k in keys}
