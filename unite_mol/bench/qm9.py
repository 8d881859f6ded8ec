"""``python -m unite_mol.bench qm9``: UNITE against a two-stage VAE-latent baseline, same harness.

Presets:

``pretrained`` (default, the README's main job)
    No training: the shipped model (or ``--checkpoint PATH``) generates ``--samples`` molecules, which
    are scored with the field's metrics; its reconstruction is measured on the same QM9 test molecules;
    the QM9 test split itself goes through the same metric code as a calibration row. Printed beside
    the published anchors (quoted, not re-run). A few minutes on CPU.
``smoke`` / ``cpu`` / ``gpu``
    Train every entry from scratch at **equal wall-clock on this machine** (FLOPs are also counted and
    reported), then evaluate each the same way:
    ``unite`` (shared weights + stop-gradient), ``unite-no-stopgrad``, ``unite-separate`` (separate
    tokenizer and denoiser weights) and ``two-stage`` (VAE for half the budget, then a latent flow model
    on its frozen latents for the other half), all through :func:`unite_mol.core.entry.train_entry`
    (same random rotations, flow settings, self-conditioning of the denoising pass and FLOPs accounting
    for every entry).

Samples come from ``generate()``'s sampler (:class:`unite_mol.sampling.SamplerConfig`'s defaults, ``--steps``
steps; ``configs.json`` records it). Every run writes a results folder (``--out``, default ``runs/bench-results/qm9-<preset>-<date>``, which git
ignores; pass ``--out benchmarks/...`` to keep results) with
``results.csv``, ``results.md``, ``configs.json``, ``machine.json`` (command, machine, commit,
wall-clock), and for trained entries their ``metrics.jsonl`` learning curves and ``curves.png``.

The rooms: training (:mod:`unite_mol.bench.qm9_train`), evaluation (:mod:`unite_mol.bench.qm9_eval`),
tables and plots (:mod:`unite_mol.bench.report`); this module holds the presets and the command.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unite_mol.bench.qm9_eval import data_row, generation_eval, physics_eval, reconstruction_eval, test_molecules
from unite_mol.bench.qm9_train import train_entry
from unite_mol.bench.report import plot_curves, write_results
from unite_mol.core.entry import ENTRIES
from unite_mol.data.qm9 import training_smiles
from unite_mol.metrics.physics import geometry_values
from unite_mol.sampling import SamplerConfig
from unite_mol.runtime import machine_info, parse_duration

REPO = Path(__file__).resolve().parents[2]
PHYSICS_XTB_N = 100     # xTB relaxations per row (the protocol allows up to 200; 100 keeps a row near 4 min)
PHYSICS_REF_N = 2000    # test molecules for the W1 distributions
PHYSICS_PB_N = 200      # samples per row through PoseBusters (about 1 s each with both bond sources, here)


def conditioning_label(model) -> str:
    """What a model's denoiser is told beyond an atom count, for its row's name: each atom's element or the
    composition (both drawn from the training data's compositions when sampling), or nothing."""
    if model.config.slot_features:
        return " [element-conditioned: compositions drawn from the training data]"
    if model.config.cond_features:
        return " [composition-conditioned: compositions drawn from the training data]"
    return ""


@dataclass(frozen=True)
class Preset:
    name: str
    model: str              # GE size preset
    budget_s: float         # wall-clock per entry
    batch_size: int
    samples: int            # generated molecules per entry
    recon: int              # test molecules for reconstruction
    steps: int              # ODE steps
    lr: float = 1e-3
    flow_copies: int = 2
    self_cond: bool = True  # the denoising pass reads its previous estimate (the shipped recipe; every entry)
    latent_norm_stop_grad: bool = False  # UNITE entries: the stop-gradient also covers the latent LayerNorm's affine


PRESETS = {
    "smoke": Preset("smoke", "GE-T", budget_s=25, batch_size=32, samples=64, recon=64, steps=10),
    "cpu": Preset("cpu", "GE-CPU", budget_s=900, batch_size=128, samples=1000, recon=1000, steps=50),
    "gpu": Preset("gpu", "GE-S", budget_s=1800, batch_size=512, samples=10_000, recon=10_000, steps=50, lr=5e-4, flow_copies=4),
}


# long: one linear command: the flags, then train, score and report each entry in turn
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench qm9", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="pretrained", choices=["pretrained", *PRESETS], help="what to run")
    p.add_argument("--checkpoint", default=None, help="evaluate this saved model instead of training / the shipped one")
    p.add_argument("--entries", default=",".join(ENTRIES), help="comma-separated entries to train")
    p.add_argument("--samples", type=int, default=None, help="generated molecules per entry (default: the preset's)")
    p.add_argument("--steps", type=int, default=None, help="ODE steps (default: the preset's)")
    p.add_argument("--budget", default=None, help="wall-clock per entry, e.g. 15m (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="seed for training and sampling")
    p.add_argument("--out", default=None, help="results folder (default runs/bench-results/qm9-<preset>-<date>, "
                   "not committed; pass --out benchmarks/... to keep results)")
    p.add_argument("--runs", default=str(REPO / "runs" / "bench"), help="where training runs live (not committed)")
    p.add_argument("--resume", action="store_true",
                   help="train each entry in RUNS/<preset>/<entry> and go on from its checkpoint there, if any (a bench "
                        "longer than one sitting; the budget counts across sittings); default: a fresh, time-stamped run")
    p.add_argument("--latent-norm-stop-grad", action="store_true",
                   help="UNITE entries: the flow loss does not reach the latent LayerNorm's gain and bias either "
                        "(UniteConfig.latent_norm_stop_grad; no effect on two-stage)")
    p.add_argument("--no-data-row", action="store_true", help="skip the QM9-test calibration row")
    p.add_argument("--no-physics", action="store_true", help="skip the physical yardstick (xTB, PoseBusters, W1)")
    p.add_argument("--xtb-n", type=int, default=PHYSICS_XTB_N, help="valid+connected samples relaxed with GFN2-xTB per row")
    p.add_argument("--pb-n", type=int, default=PHYSICS_PB_N, help="samples checked by PoseBusters per row (0: all)")
    p.add_argument("--physics-ref", type=int, default=PHYSICS_REF_N, help="QM9 test molecules of the W1 reference")
    args = p.parse_args(argv)

    t_start = time.time()
    if args.preset == "pretrained":
        pr = Preset("pretrained", "-", 0, 0, samples=1000, recon=1000, steps=SamplerConfig().steps)  # generate()'s default
    else:
        pr = PRESETS[args.preset]
    try:
        pr = replace(pr, samples=args.samples or pr.samples, steps=args.steps or pr.steps,
                     budget_s=parse_duration(args.budget) if args.budget else pr.budget_s,
                     latent_norm_stop_grad=args.latent_norm_stop_grad or pr.latent_norm_stop_grad)
        entries = [e.strip() for e in args.entries.split(",") if e.strip()]
        bad = [e for e in entries if e not in ENTRIES]
        if bad:
            raise ValueError(f"unknown entries {bad}; choose from {list(ENTRIES)}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = Path(args.out) if args.out else REPO / "runs" / "bench-results" / f"qm9-{pr.name}-{stamp}"
    print(f"[bench qm9] preset {pr.name}; results -> {out}", flush=True)
    print("[bench qm9] novelty reference: canonical SMILES of the training split", flush=True)
    reference = training_smiles()
    rows: list[dict] = []
    configs: dict[str, Any] = {"preset": pr.name, "settings": pr.__dict__, "seed": args.seed,
                               "sampler": SamplerConfig(steps=pr.steps).to_dict()}
    if not args.no_data_row:
        print("[bench qm9] calibration row: QM9 test split through the same metrics", flush=True)
        n_data = None if pr.name in ("cpu", "gpu", "pretrained") else pr.samples
        rows.append({"entry": f"QM9 test data ({'all' if n_data is None else n_data})", **data_row(n_data, reference)})
    ref_n = args.physics_ref
    ref_mols = None if args.no_physics else geometry_values(test_molecules(ref_n))
    if not args.no_data_row and not args.no_physics:
        print(f"[bench qm9] physics of the data row: {pr.samples} test molecules after the first {ref_n} "
              f"(the W1 reference)", flush=True)
        rows[-1].update(physics_eval(test_molecules(ref_n + pr.samples)[ref_n:], ref_mols,
                                     xtb_n=args.xtb_n, pb_n=args.pb_n or None))

    if args.checkpoint or pr.name == "pretrained":
        from unite_mol.generation import load_model
        from unite_mol.sampling import Sampler

        model = load_model(args.checkpoint)
        name = (Path(args.checkpoint).name if args.checkpoint else "unite (shipped model)") + conditioning_label(model)
        print(f"[bench qm9] {name}: reconstruction on {pr.recon} test molecules", flush=True)
        recon = reconstruction_eval(model, pr.recon, seed=args.seed)
        sampler = Sampler(model, SamplerConfig(steps=pr.steps))
        configs["sampler"]["valence_steps"] = sampler.valence_steps      # resolved against this model
        # the headline pair: the model alone (no guidance) and generate()'s default sampler, side by side
        arms = [("model alone, no guidance", {"valence_steps": 0})] if sampler.valence_steps else []
        arms.append(("default sampler" if arms else "", {}))
        for label, settings in arms:
            text = Sampler(model, SamplerConfig(steps=pr.steps, **settings)).describe()
            print(f"[bench qm9] {name}, {label or 'sampler'}: generating {pr.samples} molecules ({text})", flush=True)
            gen, samples = generation_eval(model, pr.samples, pr.steps, reference, seed=args.seed, sampler=settings)
            row = {"entry": f"{name}: {label}" if label else name, **recon, **gen,
                   "params": int(sum(p.numel() for p in model.parameters()))}
            if not args.no_physics:
                row.update(physics_eval(samples, ref_mols, xtb_n=args.xtb_n, pb_n=args.pb_n or None))
            rows.append(row)
        configs["model"] = getattr(model, "meta", {})
    else:
        for k, entry in enumerate(entries):
            print(f"[bench qm9] entry {k + 1}/{len(entries)} {entry}: training for {pr.budget_s:.0f} s "
                  f"(ETA for all training {pr.budget_s * (len(entries) - k):.0f} s)", flush=True)
            run_dir = Path(args.runs) / (pr.name if args.resume else f"{pr.name}-{stamp}") / entry
            if run_dir.exists() and not args.resume:
                shutil.rmtree(run_dir)
            model, summary = train_entry(entry, pr, run_dir, args.seed)
            print(f"[bench qm9] entry {entry}: evaluating", flush=True)
            row = {**summary, **reconstruction_eval(model, pr.recon, seed=args.seed)}
            gen, samples = generation_eval(model, pr.samples, pr.steps, reference, seed=args.seed)
            row.update(gen)
            if not args.no_physics:
                row.update(physics_eval(samples, ref_mols, xtb_n=args.xtb_n, pb_n=args.pb_n or None))
            rows.append(row)
            # keep the learning curves with the results
            dest = out / "curves" / entry
            dest.mkdir(parents=True, exist_ok=True)
            for c in (c for c in summary["curves"] if Path(c).is_file()):   # a run too short to log has none
                shutil.copy(c, dest / (Path(c).parent.name + "-metrics.jsonl" if "stage" in c else "metrics.jsonl"))
            # partial results after every entry: a stopped run still leaves what it measured
            plot_curves([r for r in rows if "curves" in r], out / "curves.png")
            if k + 1 < len(entries):
                partial = machine_info()
                partial["wall_s"] = time.time() - t_start
                partial["partial"] = f"{k + 1} of {len(entries)} entries done"
                write_results(out, rows, configs, partial)
    machine = machine_info()
    machine["wall_s"] = time.time() - t_start
    write_results(out, rows, configs, machine)
    print((out / "results.md").read_text())
    return 0
