"""``python -m unite_mol.train``: train a molecule model (UNITE, one of its ablations, or the two-stage
VAE-latent baseline with ``--two-stage``) on QM9, the offline drug-like set or GEOM-drugs files.

``--dataset`` names the data (:func:`unite_mol.data.sets.training_set`): ``qm9`` (default), ``druglike`` or
``druglike:SIZE`` (MOSES SMILES with ETKDG + MMFF94 conformers, built on first use), ``geom:FOLDER`` (MiDi's
split pickles or GEOM's rdkit_folder layout). Every set comes through one interface: its train / valid
splits, bond labels (for ``--bond-head``) in one format, its element vocabulary (the model's, read from the
training split) and a fingerprint, which the model's sidecar records with the set's name
(``training.dataset``, ``training.data_fingerprint``). The model cannot represent formal charges: a charged
molecule stops the run, naming it, unless ``--skip-charged`` leaves such molecules out.

Training goes through :func:`unite_mol.core.entry.train_entry`, the one path every entry of every bench
takes (random rotations as the augmentation of every entry). A thin, validated CLI over typed configs
(:class:`MolTrainConfig`, :class:`unite_mol.core.UniteConfig`, :class:`unite_mol.core.trainer.TrainConfig`).
The run folder holds the resolved config, ``metrics.jsonl``,
``loss.png``, ``eval.jsonl`` (held-out reconstruction at every checkpoint), ``checkpoint.pt`` (resume
state), ``entry.json`` (the entry's record: objective, steps and FLOPs per stage) and ``model.pt`` +
``model.json`` (the EMA weights as a self-contained model, see :mod:`unite_mol.generation`). With
``--two-stage`` the trainer's files of each stage are in ``stage1/`` and ``stage2/`` and the budget is split
in half. Running the same command on an existing run folder resumes it.

A named ``--recipe`` sets the flags of a known model at once (:data:`RECIPES`; flags given on the command line
still win): ``--recipe shipped-qm9`` trains a model with the shipped model's architecture and objective
(element-conditioned, self-conditioning, decoder stage with bond head), so ``generate(formula=...)`` works on it.

Start-up says what it does on stderr (data, model, whether the run starts fresh or resumes from step N); the
FLOPs per step (``entry.json``) are counted on the first training steps, inside the budget; the first
checkpoint comes 30 s into the run, then every ``--ckpt-every`` steps and every 10 minutes.

Examples::

    python -m unite_mol.train --run-dir runs/qm9 --recipe shipped-qm9 --budget 60m
    python -m unite_mol.train --run-dir runs/qm9 --preset GE-CPU --budget 60m
    python -m unite_mol.train --run-dir runs/drugs --dataset druglike:20000 --preset GE-CPU --budget 60m
    python -m unite_mol.train --run-dir runs/geom --dataset geom:/data/geom --skip-charged --preset GE-S
    python -m unite_mol.train --run-dir runs/qm9-two-stage --preset GE-CPU --budget 60m --two-stage
    torchrun --nproc_per_node=8 -m unite_mol.train --run-dir runs/qm9-s --preset GE-S --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unite_mol.core.entry import ENTRIES, entry_objective, train_entry, two_stage_config
from unite_mol.core.model import PRESETS, GEConfig, preset
from unite_mol.core.unite import UniteConfig, UniteModel
from unite_mol.data import BucketBatchSampler, MolBatch, collate_arrays
from unite_mol.data.batching import FRAMES, EpochBatches
from unite_mol.data.flat import FlatSplit
from unite_mol.data.runs import elements_text, eval_rows, load_training_set, trained_dataset  # noqa: F401
from unite_mol.data.sets import TrainingSet, parse_name, training_set  # noqa: F401
from unite_mol.model_io import (GE_INPUT_PREFIXES, REFINER_PREFIXES, build_model, grown_block_prefixes,  # noqa: F401
                                init_from_saved, model_configs, model_inputs, reconstruction_summary, save_model)
from unite_mol.sampling.config import STOCHASTIC_NOISE_LEVEL
from unite_mol.molecular import MoleculeConfig
from unite_mol.runtime import parse_duration, uncompiled

#: with a budget-driven schedule, warm-up ends by this fraction of the budget at the latest
BUDGET_WARMUP_FRAC = 0.05
#: Named recipes: the flag defaults (argparse ``dest`` -> value) that give a known model's architecture and
#: objective; ``--recipe NAME`` applies them, flags on the command line still win. ``shipped-qm9`` is the
#: shipped model's (``unite_mol/pretrained/unite-qm9.json``: its ``ge_config``, ``molecule_config`` and
#: ``training.objective``); that model was trained in seven sittings (its model card), each continuing the last.
RECIPES: dict[str, dict[str, Any]] = {
    "shipped-qm9": {"preset": "GE-CPU", "self_cond": True, "element_cond": True, "refine_layers": 3,
                    "bond_head": True, "local_weight": 0.02},
}


def recipe_flags(name: str) -> str:
    """A recipe as the command-line flags it stands for."""
    parts = []
    for dest, value in RECIPES[name].items():
        flag = "--" + dest.replace("_", "-")
        parts.append(flag if value is True else f"{flag} {value}")
    return " ".join(parts)


def say(message: str) -> None:
    """A start-up line on stderr (rank 0; silenced, like progress lines, by ``UNITE_MOL_NO_PROGRESS=1``)."""
    if int(os.environ.get("RANK", "0")) == 0 and os.environ.get("UNITE_MOL_NO_PROGRESS") != "1":
        print(f"[train] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class MolTrainConfig:
    """What to train: model size, data, batching, objective. The optimiser loop is TrainConfig's."""

    preset: str = "GE-CPU"
    latent_dim: int | None = None      # override the preset's per-atom latent width
    fixed_latent_norm: bool = False    # the latent LayerNorm without gain/bias (GEConfig.latent_affine=False)
    self_cond: bool = False            # the denoiser reads its previous clean-latent estimate
    pair_features: int = 0             # K > 0: the GE's attention sees pair distances (data; decoded estimate)
    composition_cond: bool = False     # the denoiser is told each molecule's composition (sampled from the data's)
    element_cond: bool = False         # the denoiser is told each atom's element (compositions sampled from the data's)
    dataset: str = "qm9"               # unite_mol.data.sets.training_set name: qm9, druglike[:SIZE], geom:FOLDER
    skip_charged: bool = False         # leave molecules with formal charges out (counted) instead of stopping
    batch_size: int = 128
    rotate: bool = True                # orient the training molecules (False: as stored)
    frame: str = "random"              # how: "random" rotations (augmentation) or each one's "canonical" frame
    use_descriptors: bool = True
    eval_molecules: int = 512          # held-out (validation split) molecules for reconstruction at checkpoints
    compile: bool = False              # torch.compile the transformers in place (1.38x per step here after ~4 min)
    refine_layers: int = 0             # geometry-aware final decoder stage (unite_mol.refiner); 0 = none
    refine_width: int = 64
    bond_head: bool = False            # predict bond orders (trained on perceived QM9 bonds; needs refine_layers)
    local_weight: float = 0.0          # short-distance (< 2 A) loss weight, in units of (0.1 A)^2
    init_from: str | None = None       # start from a saved model's weights (new modules, e.g. a refiner, start fresh)
    grow_depth: int = 0                # with init_from: append this many GE blocks, each starting as the identity
    snapshots: bool = False            # also keep a float16 copy of the model at every checkpoint (learning curves)
    entry: str = "unite"               # one of unite_mol.core.entry.ENTRIES ("two-stage": the VAE-latent baseline)
    unite: UniteConfig = field(default_factory=UniteConfig)
    recipe: str | None = None          # the named recipe (RECIPES) whose flag defaults were applied, if any

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown model preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        parse_name(self.dataset)       # ValueError naming the accepted forms
        if self.frame not in FRAMES:
            raise ValueError(f"unknown frame {self.frame!r}; choose one of {sorted(FRAMES)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.latent_dim is not None and self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.pair_features < 0:
            raise ValueError(f"pair_features must be >= 0, got {self.pair_features}")
        if self.init_from is not None and (self.latent_dim is not None or self.fixed_latent_norm):
            raise ValueError("the latent (latent_dim, fixed_latent_norm) cannot be changed when starting from a saved "
                             "model (--init-from)")
        if self.grow_depth < 0:
            raise ValueError(f"grow_depth must be >= 0, got {self.grow_depth}")
        if self.grow_depth and self.init_from is None:
            raise ValueError("grow_depth adds blocks to a saved model's GE; it needs --init-from")
        if self.entry not in ENTRIES:
            raise ValueError(f"unknown entry {self.entry!r}; choose one of {list(ENTRIES)}")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {sorted(RECIPES)}")
        if self.entry == "two-stage" and self.init_from is not None:
            raise ValueError("the two-stage baseline trains its VAE from scratch; drop --init-from or --two-stage")
        if self.entry == "two-stage" and not (self.unite.stop_grad and self.unite.shared_weights):
            raise ValueError("--two-stage is its own objective; it cannot be combined with --no-stop-grad or "
                             "--separate-weights")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unite"] = self.unite.to_dict()
        return d


# long: one statement per flag, in the order of --help
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unite_mol.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run-dir", required=True, help="run folder; an existing one is resumed")
    p.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                   help="set the flags of a named recipe (flags given here still win): "
                        + "; ".join(f"{k} = {recipe_flags(k)}" for k in sorted(RECIPES))
                        + " (the shipped model's architecture and objective: element-conditioned, so "
                          "generate(formula=...) works)")
    p.add_argument("--dataset", default="qm9", metavar="NAME",
                   help="training data: qm9, druglike (the 2,000-molecule drug-like set), druglike:SIZE (built on "
                        "first use; see python -m unite_mol.data.druglike) or geom:FOLDER (MiDi's split pickles or "
                        "GEOM's rdkit_folder layout)")
    p.add_argument("--skip-charged", action="store_true",
                   help="leave molecules with formal charges out (counted) instead of stopping: the model has no "
                        "charge head")
    p.add_argument("--preset", default="GE-CPU", choices=sorted(PRESETS), help="model size preset")
    p.add_argument("--latent-dim", type=int, default=None, help="per-atom latent width (default: the preset's)")
    p.add_argument("--fixed-latent-norm", action="store_true",
                   help="the latent LayerNorm without gain or bias: a fixed latent scale, no channel can be switched off")
    p.add_argument("--batch-size", type=int, default=128, help="molecules per optimiser step (per process)")
    p.add_argument("--steps", type=int, default=100_000, help="maximum optimiser steps (also sets the LR schedule length)")
    p.add_argument("--budget", default=None, help="wall-clock budget, e.g. 30m or 2h; the run checkpoints and stops")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=500, help="warm-up steps")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the weights")
    p.add_argument("--flow-copies", type=int, default=2, help="denoising copies per reconstruction step")
    p.add_argument("--time-shift", type=float, default=1.0, help="time shift a (<1 moves training times toward noise)")
    p.add_argument("--time-mean", type=float, default=0.0, help="mean of the logit-normal training times (>0: cleaner)")
    p.add_argument("--time-uniform-frac", type=float, default=0.0,
                   help="fraction of flow times drawn from U[--time-uniform-min, 1] instead (the clean end)")
    p.add_argument("--time-uniform-min", type=float, default=0.8, help="lower end of those uniform times")
    p.add_argument("--flow-weight", type=float, default=1.0, help="weight of the flow loss")
    p.add_argument("--self-cond", action="store_true",
                   help="self-conditioning: the denoising pass also reads its previous clean-latent estimate")
    p.add_argument("--pair-features", type=int, default=0,
                   help="K > 0: distance features bias the GE's attention (true distances in the tokenization "
                        "pass, the decoded estimate's in the denoising pass; implies an estimate, as --self-cond)")
    p.add_argument("--self-cond-prob", type=float, default=0.5,
                   help="share of denoising copies trained with their own estimate (with --self-cond / --pair-features)")
    p.add_argument("--self-cond-lag", type=float, default=0.0,
                   help="> 0: the self-conditioning estimate is made at t - LAG from noise correlated as the "
                        "stochastic sampler leaves consecutive steps' (its default reads the previous step's "
                        "prediction; 1/75 matches its 75 steps)")
    p.add_argument("--self-cond-lag-strength", type=float, default=32.0,
                   help="the stochastic sampler's strength that correlation assumes (32, that of the runs trained so "
                        f"far; generate()'s default is now {STOCHASTIC_NOISE_LEVEL:g})")
    p.add_argument("--refine-layers", type=int, default=0,
                   help="geometry-aware refinement layers after the decoder (0 = none)")
    p.add_argument("--refine-width", type=int, default=64, help="pair-feature width of the refinement layers")
    p.add_argument("--bond-head", action="store_true", help="predict bond orders (needs --refine-layers >= 1)")
    p.add_argument("--local-weight", type=float, default=0.0,
                   help="weight of the short-distance (< 2 A) loss, in units of (0.1 A)^2")
    p.add_argument("--init-from", default=None,
                   help="saved model (NAME or NAME.pt) to start from; its configs are kept, new modules start fresh")
    p.add_argument("--grow-depth", type=int, default=0,
                   help="with --init-from: append this many GE blocks, each starting as the identity (more capacity "
                        "for a trained model; its latents are unchanged at the start)")
    p.add_argument("--refiner-lr-mult", type=float, default=1.0,
                   help="learning-rate factor for the refinement stage (a fresh stage on a trained model learns faster)")
    p.add_argument("--new-input-lr-mult", type=float, default=1.0,
                   help="learning-rate factor for the GE's self-conditioning input and pair-bias layers (they start "
                        "at zero on a trained model)")
    p.add_argument("--snapshots", action="store_true",
                   help="keep a float16 model copy at every checkpoint in RUN_DIR/snapshots (for learning curves)")
    p.add_argument("--lr-schedule", default="auto", choices=["auto", "cosine", "cosine-budget", "constant"],
                   help="cosine over --steps, cosine over the budget (whichever ends first; warm-up then also ends "
                        "by 5%% of the budget), or constant; auto: cosine-budget when --budget is given (single "
                        "process), else cosine")
    p.add_argument("--no-stop-grad", action="store_true", help="ablation: let the flow loss reach the clean latent")
    p.add_argument("--separate-weights", action="store_true", help="ablation: separate tokenizer and denoiser GEs")
    p.add_argument("--latent-norm-stop-grad", action="store_true",
                   help="the stop-gradient also covers the latent LayerNorm's gain and bias in the denoising pass "
                        "(else the flow loss can shrink latent channels to constants)")
    p.add_argument("--two-stage", action="store_true",
                   help="train the two-stage VAE-latent baseline instead (VAE, then a latent flow on its frozen "
                        "latents; the budget is split in half; same augmentation, flow settings and conditions)")
    p.add_argument("--no-rotate", action="store_true", help="disable random-rotation augmentation")
    p.add_argument("--composition-cond", action="store_true",
                   help="condition the denoising pass on the molecule's composition (element counts); generate() "
                        "draws compositions from the training data's, as it draws atom counts")
    p.add_argument("--element-cond", action="store_true",
                   help="condition the denoising pass on each atom's element (one-hot, added to its latent slot); "
                        "generate() draws compositions from the training data's and the atoms keep the drawn elements")
    p.add_argument("--frame", default="random", choices=sorted(FRAMES),
                   help="training molecules' orientation: random rotations (augmentation) or each molecule's "
                        "canonical principal-axes frame (the latents then hold one orientation per molecule)")
    p.add_argument("--no-descriptors", action="store_true", help="disable the e3nn neighbourhood descriptors")
    p.add_argument("--seed", type=int, default=0, help="seed for data order, noise and initialisation")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"], help="bf16 autocast")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the transformers (about 4 minutes to start, then about 1.4x faster steps on a CPU)")
    p.add_argument("--ckpt-every", type=int, default=500,
                   help="checkpoint every N steps (and 30 s into the run, then every 10 minutes)")
    p.add_argument("--log-every", type=int, default=25, help="log every N steps")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with a ``--recipe``'s flag defaults applied under the flags given."""
    p = build_parser()
    first, _ = p.parse_known_args(argv)
    if first.recipe is not None:
        p.set_defaults(**RECIPES[first.recipe])
    return p.parse_args(argv)


def configs_from_args(args: argparse.Namespace) -> tuple[MolTrainConfig, Any]:
    """``(MolTrainConfig, TrainConfig)`` from parsed flags.

    Raises:
        ValueError: naming the field, for a bad duration, config value or combination.
    """
    from unite_mol.core.trainer import TrainConfig

    budget = parse_duration(args.budget) if args.budget else None
    unite = UniteConfig(stop_grad=not args.no_stop_grad, shared_weights=not args.separate_weights,
                        latent_norm_stop_grad=args.latent_norm_stop_grad,
                        flow_copies=args.flow_copies, time_shift=args.time_shift, time_mean=args.time_mean,
                        time_uniform_frac=args.time_uniform_frac, time_uniform_min=args.time_uniform_min,
                        flow_weight=args.flow_weight, self_cond_prob=args.self_cond_prob,
                        self_cond_lag=args.self_cond_lag, self_cond_lag_strength=args.self_cond_lag_strength)
    cfg = MolTrainConfig(preset=args.preset, latent_dim=args.latent_dim, fixed_latent_norm=args.fixed_latent_norm,
                         dataset=args.dataset, skip_charged=args.skip_charged, batch_size=args.batch_size,
                         rotate=not args.no_rotate, frame=args.frame, use_descriptors=not args.no_descriptors,
                         unite=unite,
                         compile=args.compile, refine_layers=args.refine_layers, refine_width=args.refine_width,
                         bond_head=args.bond_head, local_weight=args.local_weight, init_from=args.init_from,
                         snapshots=args.snapshots, entry=entry_name(args), self_cond=args.self_cond,
                         pair_features=args.pair_features, grow_depth=args.grow_depth,
                         composition_cond=args.composition_cond, element_cond=args.element_cond,
                         recipe=args.recipe)
    schedule = args.lr_schedule
    if schedule == "auto":  # let the budget drive the schedule (DDP ranks' clocks differ: steps there)
        single = int(os.environ.get("WORLD_SIZE", "1")) == 1
        schedule = "cosine-budget" if budget is not None and single else "cosine"
    tcfg = TrainConfig(steps=args.steps, budget_s=budget, lr=args.lr, warmup_steps=args.warmup,
                       ema_decay=args.ema, seed=args.seed, amp=args.amp, device=args.device,
                       ckpt_every=args.ckpt_every, log_every=args.log_every, lr_schedule=schedule,
                       warmup_budget_frac=BUDGET_WARMUP_FRAC if schedule == "cosine-budget" else 0.0,
                       lr_multipliers=lr_multipliers(args))
    return cfg, tcfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg, tcfg = configs_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cfg.recipe is not None:
        say(f"recipe {cfg.recipe}: {recipe_flags(cfg.recipe)}")
    try:
        data = load_training_set(cfg.dataset, args.run_dir, skip_charged=cfg.skip_charged, say=say)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _, record = train(cfg, tcfg, args.run_dir, data=data)
    if int(os.environ.get("RANK", "0")) == 0:
        if record["stopped"] == "signal" and record["stopped_in"] == "stage1":
            print("stopped by a signal during stage 1 (checkpointed); run the same command again to resume",
                  file=sys.stderr)
            return 130
        print(final_message({**record["stages"][-1], "elapsed_s": record["elapsed_s"]}, Path(args.run_dir)))
    return 0


def lr_multipliers(args: argparse.Namespace) -> tuple[tuple[str, float], ...]:
    """Parameter-name prefixes trained at a multiple of the base LR (modules new to a trained model: the
    decoder stage, the GE's new inputs; blocks added by ``--grow-depth`` learn at the new inputs' factor)."""
    groups = [(REFINER_PREFIXES, args.refiner_lr_mult), (GE_INPUT_PREFIXES + grown_prefixes(args), args.new_input_lr_mult)]
    return tuple((prefix, mult) for prefixes, mult in groups if mult != 1 for prefix in prefixes)


def grown_prefixes(args: argparse.Namespace) -> tuple[str, ...]:
    """Parameter-name prefixes of the GE blocks ``--grow-depth`` appends to the ``--init-from`` model."""
    from unite_mol.model_files import model_paths, read_sidecar

    if not args.grow_depth or not args.init_from:
        return ()
    sidecar = model_paths(args.init_from)[1]
    try:
        depth = int(read_sidecar(sidecar)["ge_config"]["depth"])
    except (OSError, KeyError, TypeError) as exc:
        raise ValueError(f"--grow-depth: cannot read the GE depth from {sidecar}: {exc}") from None
    return grown_block_prefixes(depth, args.grow_depth)


def entry_name(args: argparse.Namespace) -> str:
    """The entry the flags ask for (both ablation flags together: ``unite`` with both switches set)."""
    if args.two_stage:
        return "two-stage"
    if args.no_stop_grad != args.separate_weights:
        return "unite-no-stopgrad" if args.no_stop_grad else "unite-separate"
    return "unite"


def final_message(summary: dict[str, Any], run_dir: Path) -> str:
    """Where the trained model is and how to sample from it (printed at the end of ``main``)."""
    why = {"steps": "reached --steps", "stop_at": "reached the stop step", "budget": "the budget ran out",
           "signal": "stopped by a signal"}.get(summary.get("stopped"), str(summary.get("stopped")))
    model = run_dir / "model"
    return (f"training stopped at step {summary['steps']} ({why}) after {summary['elapsed_s']:.0f} s of training\n"
            f"model: {model}.pt + {model}.json (EMA weights at step {summary['steps']})\n"
            f"sample: python -m unite_mol generate --model {model} --n 100 --out samples.sdf\n"
            f"   or:  unite_mol.generate(100, model={str(model)!r})\n"
            + ("rerun the same command to resume" if summary.get("stopped") == "signal" else
               "to train on, rerun the same command with a larger --steps or --budget (the budget counts across "
               "resumes)"))


def train(cfg: MolTrainConfig, tcfg, run_dir: str | Path, *, data: TrainingSet | None = None
          ) -> tuple[UniteModel, dict[str, Any]]:
    """Train (or resume) a molecule model on ``data`` (default: :func:`load_training_set` of ``cfg.dataset``);
    returns (EMA model, the entry's record).

    Raises:
        ValueError: for data that do not fit the config (e.g. ``bond_head`` on a set without bond labels).
    """
    import time

    from unite_mol.data import canonical_frame, random_rotation  # looked up per run, as the bench does

    t0 = time.monotonic()
    frame = {"random": random_rotation, "canonical": canonical_frame}[cfg.frame]
    run_dir = Path(run_dir)
    dataset = load_training_set(cfg.dataset, run_dir, skip_charged=cfg.skip_charged, say=say) if data is None else data
    data_fingerprint = dataset.fingerprint()
    data = dataset.split("train")
    valid = dataset.split("valid")
    torch.manual_seed(tcfg.seed)
    decoder_stage, ge_inputs = model_inputs(cfg, data)
    if cfg.init_from is not None:
        shared = entry_objective(cfg.entry, cfg.unite).shared_weights
        model, init_info = init_from_saved(cfg.init_from, decoder_stage, shared_weights=shared, ge_inputs=ge_inputs,
                                           grow_depth=cfg.grow_depth)
        ge_cfg, mol_cfg = model.config, model.adapter.config
        build: Any = model
    else:
        ge_cfg, mol_cfg = model_configs(cfg, data)
        build = lambda **arch: build_model(ge_cfg, mol_cfg, **arch)  # noqa: E731
        init_info = None
    sampler = BucketBatchSampler(data.num_atoms, cfg.batch_size, seed=tcfg.seed)
    bond_labels = None
    if cfg.bond_head:
        say(f"loading the {dataset.name} bond labels" + (" (perceived once, then cached)..." if dataset.name == "qm9"
                                                           else "..."))
        bond_labels = dataset.bond_labels("train")
        if bond_labels is None:
            raise ValueError(f"--bond-head needs bond labels, and the {dataset.name} set has none")
    rows = eval_rows(valid, data, cfg.eval_molecules)
    if len(rows) == 0:
        raise ValueError(f"no molecule of the {dataset.name} validation split fits a model sized on its training split "
                         "(elements, atom count): nothing to check reconstruction on")
    eval_batch = collate_arrays(valid.numbers, valid.positions, valid.offsets, rows)
    objective = (two_stage_config(cfg.unite) if cfg.entry == "two-stage"
                 else entry_objective(cfg.entry, cfg.unite)).to_dict()
    meta = {"config": {"molecule_training": cfg.to_dict(), "ge": ge_cfg.to_dict(), "molecule": mol_cfg.to_dict(),
                       "init_from": init_info}}

    def on_checkpoint(trainer) -> None:
        ema = uncompiled(trainer.ema_model())
        summary = reconstruction_summary(ema, eval_batch.to(next(ema.parameters()).device))
        summary.update(step=trainer.step, elapsed_s=round(trainer.elapsed, 1))
        with open(run_dir / "eval.jsonl", "a") as fh:
            fh.write(json.dumps(summary) + "\n")
        extra = {"training": {"step": trainer.step, "elapsed_s": trainer.elapsed, "dataset": dataset.name,
                              "data_fingerprint": data_fingerprint, "data_notes": dataset.notes(),
                              "entry": cfg.entry, "objective": objective, "batch_size": cfg.batch_size,
                              "rotate": cfg.rotate, "frame": cfg.frame, "init_from": init_info},
                 "eval": summary}
        save_model(run_dir / "model", ema.cpu(), extra=extra)
        if cfg.snapshots:
            save_model(run_dir / "snapshots" / f"model-{trainer.step:07d}", ema, extra=extra, storage_dtype="float16")

    say(f"{cfg.entry} on {len(data):,} {dataset.name} molecules (elements {elements_text(dataset.elements)}, up to "
        f"{int(data.num_atoms.max())} atoms), GE {cfg.preset if cfg.init_from is None else 'from ' + cfg.init_from} "
        f"(width {ge_cfg.width}, depth {ge_cfg.depth}), batch {cfg.batch_size}; start-up took "
        f"{time.monotonic() - t0:.0f} s; FLOPs are counted "
        + ("before compiling, outside the budget" if cfg.compile else "on the first training steps, inside the budget"))
    return train_entry(build, lambda epoch: EpochBatches(data, sampler.epoch(epoch), bond_labels), entry=cfg.entry,
                       unite=cfg.unite, train=tcfg, run_dir=run_dir, augment=frame if cfg.rotate else None,
                       compile=cfg.compile, extra_state=meta, on_checkpoint=on_checkpoint)


if __name__ == "__main__":
    raise SystemExit(main())
