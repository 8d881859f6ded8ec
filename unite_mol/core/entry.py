"""One path for every benchmark entry: UNITE, its ablations and the two-stage baseline, in any domain.

:func:`train_entry` is how every model is trained (``python -m unite_mol.train``, ``images.train`` and
the QM9 bench all call it), so a comparison between entries is fair by construction:

* the same data augmentation (``augment(batch, generator) -> batch``, e.g. random rotations for
  molecules) is applied once per optimiser step to every entry's batch, in every stage;
* conditions (the adapter's ``Tokens.cond``, e.g. class ids) reach the denoiser of every entry, with
  UNITE's condition dropout (:attr:`UniteConfig.cond_dropout`): the two-stage config is derived from the
  UNITE config (:func:`two_stage_config`), with its flow copies and time distribution too;
* FLOPs of one training step are counted for every stage and multiplied by that stage's steps, so
  equal-compute accounting covers both stages of the baseline. They are counted on the stage's first
  :data:`FLOP_BATCHES` real training steps while they train (the trainer's ``flop_steps``: inside the budget,
  no extra work before the clock starts, augmentation included, the same for every entry; size-bucketed
  batches differ in cost, hence a mean). With ``compile=True`` a compiled step cannot be counted op by op,
  so :func:`mean_step_flops` counts :data:`FLOP_BATCHES` batches spread over epoch 0 before compiling,
  outside the budget, saying so on stderr.

Entries:

``unite``               shared weights, stop-gradient (the given :class:`UniteConfig` as is)
``unite-no-stopgrad``   the flow loss also reaches the clean latent
``unite-separate``      separate tokenizer and denoiser weights
``two-stage``           a VAE (``vae_loss``) for half the budget in ``RUN_DIR/stage1``, then a latent flow
                        model on its frozen posterior (``latent_flow_loss``) for the other half in
                        ``RUN_DIR/stage2``; a signal in stage 1 ends the run before stage 2

The record (also written to ``RUN_DIR/entry.json``) holds the entry, its resolved objective, the
augmentation's name and per stage: run folder, steps, wall-clock, stop reason, FLOPs per step and in all.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from unite_mol.core.batches import move
from unite_mol.core.run_files import atomic_write_text
from unite_mol.core.train_config import LossFn, TrainConfig
from unite_mol.core.two_stage import TwoStageConfig, freeze_vae, latent_flow_loss, vae_loss
from unite_mol.core.unite import UniteConfig, UniteModel, unite_loss
from unite_mol.runtime import pick_device

ENTRIES = ("unite", "unite-no-stopgrad", "unite-separate", "two-stage")

#: ``augment(batch, generator) -> batch``: the domain's training augmentation (random, from ``generator``)
Augment = Callable[[Any, torch.Generator], Any]
#: ``build(shared_weights=..., vae=...) -> UniteModel``: the domain adapter's model, sized for an entry
ModelFactory = Callable[..., UniteModel]


def check_entry(entry: str) -> str:
    """``entry`` if it is one of :data:`ENTRIES`.

    Raises:
        ValueError: naming the entries to choose from.
    """
    if entry not in ENTRIES:
        raise ValueError(f"unknown entry {entry!r}; choose one of {list(ENTRIES)}")
    return entry


def entry_objective(entry: str, unite: UniteConfig) -> UniteConfig:
    """The UNITE objective of an entry: the ablation's switch set on ``unite`` (``two-stage``: unchanged)."""
    check_entry(entry)
    if entry == "unite-no-stopgrad":
        return replace(unite, stop_grad=False)
    if entry == "unite-separate":
        return replace(unite, shared_weights=False)
    return unite


def two_stage_config(unite: UniteConfig, *, kl_weight: float = 1e-3) -> TwoStageConfig:
    """The baseline's objective on UNITE's terms: its flow copies, time distribution and condition dropout."""
    return TwoStageConfig(kl_weight=kl_weight, flow_copies=max(1, unite.flow_copies), time_shift=unite.time_shift,
                          time_mean=unite.time_mean, time_std=unite.time_std,
                          time_uniform_frac=unite.time_uniform_frac, time_uniform_min=unite.time_uniform_min,
                          cond_dropout=unite.cond_dropout, self_cond_prob=unite.self_cond_prob)


def entry_stages(entry: str, unite: UniteConfig, *, kl_weight: float = 1e-3) -> list[tuple[str, LossFn]]:
    """``(stage folder, loss)`` per stage of ``entry`` ("" = the run folder itself), without augmentation."""
    if check_entry(entry) == "two-stage":
        ts = two_stage_config(unite, kl_weight=kl_weight)
        return [("stage1", lambda m, b, g: vae_loss(m, b, g, ts)),
                ("stage2", lambda m, b, g: latent_flow_loss(m, b, g, ts))]
    cfg = entry_objective(entry, unite)
    return [("", lambda m, b, g: unite_loss(m, b, g, cfg))]


def augmented(loss_fn: LossFn, augment: Augment | None) -> LossFn:
    """``loss_fn`` on ``augment(batch, generator)``: one augmentation per call, drawn from the step's generator."""
    if augment is None:
        return loss_fn

    def fn(model, batch, generator):
        return loss_fn(model, augment(batch, generator), generator)

    return fn


#: training steps (with compile: batches of epoch 0, evenly spread) whose FLOPs are averaged per stage
FLOP_BATCHES = 4


def mean_step_flops(model: torch.nn.Module, loss_fn: LossFn, epoch0: Sequence[Any], *,
                    device: torch.device | None = None, k: int = FLOP_BATCHES) -> float:
    """Mean FLOPs of a training step over ``k`` batches evenly spread over ``epoch0`` (all if it has fewer)."""
    n = len(epoch0)
    picks = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(min(k, n))})
    return sum(count_step_flops(model, loss_fn, epoch0[i], device=device) for i in picks) / len(picks)


def count_step_flops(model: torch.nn.Module, loss_fn: LossFn, batch: Any, *,
                     device: torch.device | None = None) -> float:
    """FLOPs of one training step (forward + backward) on ``batch``, by torch's FlopCounterMode.

    Runs on ``device`` (default: where the model's parameters are); leaves no gradients behind.
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = device or next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(0)
    with FlopCounterMode(display=False) as counter:
        loss, _ = loss_fn(model, move(batch, device), gen)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def compile_in_place(model: UniteModel) -> None:
    """``torch.compile`` the transformers without changing parameter names (``nn.Module.compile``).

    Whole networks rather than their blocks alone: side by side on the shipped recipe (1 thread) whole networks
    gave 1.38x per step and compiled blocks 1.29x, for about 4 minutes of compilation instead of about 3
    (``benchmarks/qm9/throughput``)."""
    for m in (model.ge, model.ge_denoise, model.decoder):
        if m is not None:
            m.compile(dynamic=True)


def _model_for(build: ModelFactory | UniteModel, entry: str, unite: UniteConfig) -> UniteModel:
    shared = entry != "two-stage" and entry_objective(entry, unite).shared_weights
    vae = entry == "two-stage"
    model = build if isinstance(build, UniteModel) else build(shared_weights=shared, vae=vae)
    if not isinstance(model, UniteModel):
        raise TypeError(f"the model factory returned {type(model).__name__}, not a UniteModel")
    if model.shared_weights != shared or model.vae != vae:
        raise ValueError(f"entry {entry!r} needs a model with shared_weights={shared}, vae={vae}; got "
                         f"shared_weights={model.shared_weights}, vae={model.vae}")
    return model


def _hooks(*hooks: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """One checkpoint hook that calls the given ones in order (None if none is given)."""
    given = [h for h in hooks if h is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def hook(trainer: Any) -> None:
        for h in given:
            h(trainer)

    return hook


# long: the one path every entry trains through (UNITE, its ablations, both stages of the baseline)
def train_entry(build: ModelFactory | UniteModel, batches: Callable[[int], Sequence[Any]], *, entry: str,
                unite: UniteConfig, train: TrainConfig, run_dir: str | Path, augment: Augment | None = None,
                kl_weight: float = 1e-3, count_flops: bool = True, compile: bool = False,
                extra_state: dict | None = None, on_checkpoint: Callable[[Any], None] | None = None,
                on_stage_checkpoint: Callable[[Any], None] | None = None) -> tuple[UniteModel, dict[str, Any]]:
    """Train (or resume) one entry; returns (EMA model in eval mode, record).

    Args:
        build: ``build(shared_weights=, vae=) -> UniteModel`` from the domain's adapter, or a model that
            already has the entry's architecture.
        batches: ``batches(epoch) -> Sequence`` (the :class:`unite_mol.core.trainer.Trainer` contract); the
            conditions the adapter reads from a batch reach every entry's denoiser.
        entry: one of :data:`ENTRIES`.
        unite: the UNITE objective; the ablations switch one field, the two-stage baseline takes its flow
            settings and condition dropout (:func:`two_stage_config`).
        train: how to optimise; for ``two-stage`` each stage gets half of ``budget_s`` and all its ``steps``.
        run_dir: the run folder (an existing one is resumed, stage by stage).
        augment: ``augment(batch, generator) -> batch``, applied once per step to every entry and stage.
        kl_weight: the two-stage VAE's KL weight.
        count_flops: count FLOPs per step of every stage (on its first :data:`FLOP_BATCHES` training steps;
            with ``compile``, :data:`FLOP_BATCHES` extra steps' work before its clock starts).
        compile: ``torch.compile`` the transformers (after the FLOPs are counted).
        extra_state, on_checkpoint: passed to every stage's trainer; ``on_checkpoint`` runs for the last
            stage only (the one that trains the model that samples).
        on_stage_checkpoint: ``f(trainer)`` after every checkpoint of every stage (before ``on_checkpoint`` on
            the last), e.g. a cheap score for learning curves that should also follow the baseline's stage 1;
            ``trainer.run_dir`` says which stage.

    Raises:
        ValueError: for an unknown entry or a model that does not fit it.
    """
    from unite_mol.core.trainer import Trainer

    run_dir = Path(run_dir)
    model = _model_for(build, entry, unite)
    stages = entry_stages(entry, unite, kl_weight=kl_weight)
    objective = two_stage_config(unite, kl_weight=kl_weight) if entry == "two-stage" else entry_objective(entry, unite)
    augment_name = None if augment is None else getattr(augment, "__name__", repr(augment))
    record: dict[str, Any] = {"entry": entry, "objective": objective.to_dict(), "augmentation": augment_name,
                              "stages": []}
    device = pick_device(train.device, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    rank0 = True
    for k, (name, loss_fn) in enumerate(stages):
        last = k == len(stages) - 1
        if name == "stage2":
            freeze_vae(model)
        tcfg = train                                   # a two-stage run splits the budget between its stages
        if len(stages) > 1 and train.budget_s is not None:
            tcfg = replace(train, budget_s=train.budget_s / len(stages))
        flops = None
        if count_flops and compile:   # a compiled step cannot be counted op by op: count before compiling, on
            t0 = time.monotonic()     # the training device (after the trainer exists, DDP would see a stray backward)
            if int(os.environ.get("RANK", "0")) == 0:
                print(f"counting the FLOPs of a training step on {FLOP_BATCHES} batches before compiling (outside "
                      f"the budget)...", file=sys.stderr, flush=True)
            flops = mean_step_flops(model.to(device), loss_fn, batches(0))
            if int(os.environ.get("RANK", "0")) == 0:
                print(f"FLOPs per training step: {flops / 1e9:.4g} GFLOP ({time.monotonic() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
        hook = _hooks(on_stage_checkpoint, on_checkpoint if last else None)
        trainer = Trainer(model, augmented(loss_fn, augment), batches, tcfg, run_dir / name if name else run_dir,
                          extra_state=extra_state, on_checkpoint=hook,
                          flop_steps=FLOP_BATCHES if count_flops and not compile else 0)
        rank0 = trainer.rank == 0
        if compile:
            compile_in_place(trainer.model)
        s = trainer.fit()
        steps = int(s.get("steps", 0))
        if count_flops and not compile:
            flops = s.get("flops_per_step")   # None only if no step was trained
        record["stages"].append({"name": name or entry, "run_dir": str(trainer.run_dir), "steps": steps,
                                 "elapsed_s": float(s.get("elapsed_s", 0.0)),
                                 "samples_seen": s.get("samples_seen", 0), "stopped": s.get("stopped"),
                                 "flops_per_step": flops, "flops": None if flops is None else flops * steps,
                                 "flops_counted": None if not count_flops else (
                                     f"{FLOP_BATCHES} batches of epoch 0 before training" if compile
                                     else f"first {FLOP_BATCHES} training steps"),
                                 "curve": str(trainer.run_dir / "metrics.jsonl")})
        model = trainer.ema_model()
        if s.get("stopped") == "signal":  # checkpointed: never go on to stage 2 with a half-trained VAE
            break
    done = record["stages"]
    record.update(stopped=done[-1]["stopped"], stopped_in=done[-1]["name"], steps=sum(d["steps"] for d in done),
                  elapsed_s=sum(d["elapsed_s"] for d in done),
                  flops=None if not count_flops else sum(d["flops"] or 0.0 for d in done),
                  params=int(sum(p.numel() for p in model.parameters())))
    if rank0:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "entry.json", json.dumps(record, indent=2, default=str))
    return model.eval(), record
