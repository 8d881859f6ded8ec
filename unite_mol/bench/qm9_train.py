"""The QM9 bench's training of one entry at a wall-clock budget, with its FLOPs counted.

Entries: ``unite``, ``unite-no-stopgrad``, ``unite-separate`` and ``two-stage`` (see :mod:`unite_mol.bench.qm9`).
Every entry goes through :func:`unite_mol.core.entry.train_entry` with the same augmentation (random
rotations), flow settings and equal-compute accounting (FLOPs of both stages of the two-stage baseline).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unite_mol.runtime import uncompiled

if TYPE_CHECKING:
    from unite_mol.bench.qm9 import Preset


def train_entry(entry: str, preset: "Preset", run_dir: Path, seed: int, *, data: Any = None,
                dataset: str = "qm9") -> tuple[Any, dict[str, Any]]:
    """Train one entry for the preset's wall-clock budget; returns (EMA model, summary).

    ``data``: the training split as flat arrays (``numbers``, ``positions``, ``offsets``, ``num_atoms``, as
    :class:`unite_mol.data.QM9Split` has them); default the QM9 training split. ``dataset``: its name in the
    saved model's training record (``RUN_DIR/model``). The model's element
    vocabulary, atom limit and coordinate scale come from it (:meth:`MoleculeConfig.from_data`).

    Raises:
        KeyboardInterrupt: if a signal stopped the run (it is checkpointed, not scored).
    """
    from unite_mol import data as mol_data
    from unite_mol.core.entry import train_entry as train_any_entry
    from unite_mol.core.model import preset as ge_preset
    from unite_mol.core.trainer import TrainConfig
    from unite_mol.core.unite import UniteConfig
    from unite_mol.generation import build_model
    from unite_mol.model_io import save_model
    from unite_mol.molecular import MoleculeConfig
    from unite_mol.train import EpochBatches

    data = mol_data.qm9("train") if data is None else data
    torch.manual_seed(seed)
    ge_cfg = replace(ge_preset(preset.model), self_cond=preset.self_cond)
    mol_cfg = MoleculeConfig.from_data(data.numbers, data.positions, data.offsets)
    sampler = mol_data.BucketBatchSampler(data.num_atoms, preset.batch_size, seed=seed)
    # the LR anneals over the wall-clock budget (cosine-budget), so every entry ends its run annealed
    tcfg = TrainConfig(steps=100_000, budget_s=preset.budget_s, lr=preset.lr, warmup_steps=200, seed=seed,
                       lr_schedule="cosine-budget", ckpt_every=10_000, log_every=10)
    model, record = train_any_entry(lambda **arch: build_model(ge_cfg, mol_cfg, **arch),
                                    lambda epoch: EpochBatches(data, sampler.epoch(epoch)), entry=entry,
                                    unite=UniteConfig(flow_copies=preset.flow_copies,
                                                      latent_norm_stop_grad=preset.latent_norm_stop_grad),
                                    train=tcfg, run_dir=run_dir, augment=mol_data.random_rotation)
    if record["stopped"] == "signal":
        raise KeyboardInterrupt(f"entry {entry}, {record['stopped_in']} stopped by a signal")
    model = uncompiled(model).eval()
    device = next(model.parameters()).device
    # the scored model as a file too, for later analyses (`bench alignment`, `bench qm9 --checkpoint`)
    save_model(run_dir / "model", model.cpu(), extra={"training": {
        "entry": entry, "objective": record.get("objective"), "steps": record["steps"],
        "elapsed_s": record["elapsed_s"], "preset": preset.__dict__, "seed": seed, "dataset": dataset}})
    model.to(device)
    summary = {"entry": entry, "steps": record["steps"], "wall_s": record["elapsed_s"], "flops": record["flops"],
               "train_mol_per_s": record["steps"] * preset.batch_size / max(record["elapsed_s"], 1e-9),
               "params": record["params"], "curves": [s["curve"] for s in record["stages"]]}
    return model, summary
