"""The QM9 bench's training of one entry at a wall-clock budget, with its FLOPs counted.

Entries: ``unite``, ``unite-no-stopgrad``, ``unite-separate`` and ``two-stage`` (see :mod:`unite_mol.bench.qm9`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from unite_mol.runtime import uncompiled

if TYPE_CHECKING:
    from unite_mol.bench.qm9 import Preset


def count_step_flops(model, loss_fn, batch) -> float:
    """FLOPs of one training step (forward + backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    gen = torch.Generator().manual_seed(0)
    with FlopCounterMode(display=False) as counter:
        loss, _ = loss_fn(model, batch, gen)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def fit_or_stop(trainer, what: str) -> dict[str, Any]:
    """``trainer.fit()``; a run stopped by a signal (checkpointed) ends the benchmark instead of being scored."""
    summary = trainer.fit()
    if summary["stopped"] == "signal":
        raise KeyboardInterrupt(f"{what} stopped by a signal")
    return summary


def train_entry(entry: str, preset: "Preset", run_dir: Path, seed: int) -> tuple[Any, dict[str, Any]]:
    """Train one entry for the preset's wall-clock budget; returns (EMA model, summary)."""
    from unite_mol.core import TwoStageConfig, UniteConfig, freeze_vae, latent_flow_loss, vae_loss
    from unite_mol.core.trainer import TrainConfig, Trainer
    from unite_mol.data import BucketBatchSampler, collate_arrays, qm9
    from unite_mol.generation import build_model
    from unite_mol.core.model import preset as ge_preset
    from unite_mol.molecular import MoleculeConfig
    from unite_mol.train import EpochBatches, MolTrainConfig, make_loss_fn

    data = qm9("train")
    torch.manual_seed(seed)
    ge_cfg = ge_preset(preset.model)
    mol_cfg = MoleculeConfig.from_data(data.numbers, data.positions, data.offsets)
    sampler = BucketBatchSampler(data.num_atoms, preset.batch_size, seed=seed)
    batches = lambda epoch: EpochBatches(data, sampler.epoch(epoch))  # noqa: E731
    probe = collate_arrays(data.numbers, data.positions, data.offsets, np.arange(preset.batch_size))
    expected_steps = 100_000

    def tcfg(budget: float) -> TrainConfig:
        # the LR anneals over the wall-clock budget (cosine-budget), so every entry ends its run annealed
        return TrainConfig(steps=expected_steps, budget_s=budget, lr=preset.lr, warmup_steps=200, seed=seed,
                           lr_schedule="cosine-budget", ckpt_every=10_000, log_every=10)

    summary: dict[str, Any] = {"entry": entry}
    if entry == "two-stage":
        model = build_model(ge_cfg, mol_cfg, shared_weights=False, vae=True)
        ts = TwoStageConfig(flow_copies=preset.flow_copies)
        stage1 = lambda m, b, g: vae_loss(m, b, g, ts)  # noqa: E731
        stage2 = lambda m, b, g: latent_flow_loss(m, b, g, ts)  # noqa: E731
        flops1 = count_step_flops(model, stage1, probe)
        t1 = Trainer(model, stage1, batches, tcfg(preset.budget_s / 2), run_dir / "stage1")
        s1 = fit_or_stop(t1, f"entry {entry}, stage 1")  # never go on to stage 2 with a half-trained VAE
        model = t1.ema_model()
        freeze_vae(model)
        flops2 = count_step_flops(model, stage2, probe)
        t2 = Trainer(model, stage2, batches, tcfg(preset.budget_s / 2), run_dir / "stage2")
        s2 = fit_or_stop(t2, f"entry {entry}, stage 2")
        model = t2.ema_model()
        summary.update(steps=s1["steps"] + s2["steps"], wall_s=s1["elapsed_s"] + s2["elapsed_s"],
                       flops=flops1 * s1["steps"] + flops2 * s2["steps"],
                       train_mol_per_s=(s1["steps"] + s2["steps"]) * preset.batch_size / (s1["elapsed_s"] + s2["elapsed_s"]))
        curves = [run_dir / "stage1" / "metrics.jsonl", run_dir / "stage2" / "metrics.jsonl"]
    else:
        unite = UniteConfig(stop_grad=entry != "unite-no-stopgrad", shared_weights=entry != "unite-separate",
                            flow_copies=preset.flow_copies)
        cfg = MolTrainConfig(preset=preset.model, batch_size=preset.batch_size, unite=unite)
        model = build_model(ge_cfg, mol_cfg, shared_weights=unite.shared_weights)
        loss_fn = make_loss_fn(cfg)
        flops = count_step_flops(model, loss_fn, probe)
        tr = Trainer(model, loss_fn, batches, tcfg(preset.budget_s), run_dir)
        s = fit_or_stop(tr, f"entry {entry}")
        model = tr.ema_model()
        summary.update(steps=s["steps"], wall_s=s["elapsed_s"], flops=flops * s["steps"],
                       train_mol_per_s=s["steps"] * preset.batch_size / s["elapsed_s"])
        curves = [run_dir / "metrics.jsonl"]
    summary["params"] = int(sum(p.numel() for p in model.parameters()))
    summary["curves"] = [str(c) for c in curves]
    return uncompiled(model).eval(), summary
