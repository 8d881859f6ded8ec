"""Choosing and checking a training run's data: the set a run folder was trained on, the set to load for a
run (refusing a folder trained on another), the molecules of the reconstruction check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from unite_mol.data.flat import FlatSplit
from unite_mol.data.sets import TrainingSet, canonical_name, representable_rows, training_set


def load_training_set(dataset: str, run_dir: str | Path, *, skip_charged: bool = False,
                      say: Callable[[str], None] = print) -> TrainingSet:
    """The training set ``dataset`` names, with its train and valid splits loaded (so data problems show
    before any training); ``say`` reports what it loads.

    Raises:
        ValueError: for a bad name, data the model cannot take (a charged molecule without ``skip_charged``,
            an empty split), or a run folder that was trained on another dataset.
        FileNotFoundError: for a GEOM folder that does not exist or holds neither GEOM layout.
    """
    previous = trained_dataset(run_dir)
    data = training_set(dataset, skip_charged=skip_charged)
    if previous is not None and canonical_name(previous) != data.name:
        raise ValueError(f"{run_dir} holds a run trained on --dataset {previous}; resume it with that dataset or "
                         f"give a new --run-dir for {dataset}")
    say(f"loading the {data.name} training and validation splits...")
    data.split("train")
    data.split("valid")
    return data


def trained_dataset(run_dir: str | Path) -> str | None:
    """The ``--dataset`` of the run in ``run_dir`` (from its ``config.json``, or a stage's), None for a new run."""
    run_dir = Path(run_dir)
    for path in [run_dir / "config.json", *sorted(run_dir.glob("*/config.json"))]:
        try:
            return str(json.loads(path.read_text())["molecule_training"].get("dataset", "qm9"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return None


def eval_rows(valid: FlatSplit, train_split: FlatSplit, n: int) -> np.ndarray:
    """The first ``n`` validation molecules that a model sized on ``train_split`` can hold (its elements, at most
    its largest molecule's atoms): the reconstruction check's molecules."""
    rows = representable_rows(valid, np.unique(train_split.numbers), int(train_split.num_atoms.max()))
    return rows[:n]


def elements_text(numbers: Sequence[int]) -> str:
    """Atomic numbers as element symbols: ``"H C N O F"``."""
    from unite_mol.elements import symbol

    return " ".join(symbol(int(z)) for z in numbers)
