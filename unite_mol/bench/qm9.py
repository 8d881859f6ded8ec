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
    on its frozen latents for the other half).

Every run writes a results folder (``--out``, default ``benchmarks/qm9/<preset>-<date>``) with
``results.csv``, ``results.md``, ``configs.json``, ``machine.json`` (command, machine, commit,
wall-clock), and for trained entries their ``metrics.jsonl`` learning curves and ``curves.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]

#: Published QM9 rows (DESIGN.md section 3), quoted from the papers, not re-run here.
ANCHORS = [
    {"system": "QM9 data (EDM)", "kind": "data", "bonds": "EDM distances", "atom_stab": 99.0, "mol_stab": 95.2, "valid": 97.7, "unique": 100.0},
    {"system": "EDM (1000 steps)", "kind": "bond-free", "bonds": "EDM distances", "atom_stab": 98.7, "mol_stab": 82.0, "valid": 91.9, "unique": None},
    {"system": "GeoLDM (VAE latent)", "kind": "bond-free", "bonds": "EDM distances", "atom_stab": 98.9, "mol_stab": 89.4, "valid": 93.8, "unique": None},
    {"system": "ADiT (VAE + DiT)", "kind": "bond-free", "bonds": "Open Babel", "recon_match": 97.20, "recon_rmsd": 0.075, "valid": 96.02, "unique": 97.76},
    {"system": "UNITE-S (33M, 8000 epochs)", "kind": "bond-free", "bonds": "Open Babel", "recon_match": 99.37, "recon_rmsd": 0.039, "valid": 94.90, "unique": 99.71},
]


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


PRESETS = {
    "smoke": Preset("smoke", "GE-T", budget_s=25, batch_size=32, samples=64, recon=64, steps=10),
    "cpu": Preset("cpu", "GE-CPU", budget_s=900, batch_size=128, samples=1000, recon=1000, steps=50),
    "gpu": Preset("gpu", "GE-S", budget_s=1800, batch_size=512, samples=10_000, recon=10_000, steps=50, lr=5e-4, flow_copies=4),
}
ENTRIES = ("unite", "unite-no-stopgrad", "unite-separate", "two-stage")


def command_line() -> str:
    """This process's command line as the user typed it: ``python -m unite_mol.bench metrics --n 10``."""
    import unite_mol

    prog = Path(sys.argv[0]).resolve()
    try:
        module = ".".join(prog.relative_to(Path(unite_mol.__file__).resolve().parents[1]).with_suffix("").parts)
    except ValueError:  # not a unite_mol module (a script, pytest, ...)
        return " ".join(["python", *sys.argv])
    return " ".join(["python -m", module.removesuffix(".__main__"), *sys.argv[1:]])


def machine_info(command: str | None = None) -> dict[str, Any]:
    """Machine, software, commit, load and the command line (default: :func:`command_line`)."""
    from unite_mol.generation import git_commit

    command = command_line() if command is None else command

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None, "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "commit": git_commit(), "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ----------------------------------------------------------------------------------------- evaluation
def training_smiles() -> set[str]:
    """Canonical SMILES of the training split (QM9's own, stereo removed): the novelty reference."""
    from unite_mol.data import qm9
    from unite_mol.data.card import canonical_smiles

    out = set()
    for s in qm9("train").smiles:
        c = canonical_smiles(str(s))
        if c is not None:
            out.add(c)
    return out


def reconstruction_eval(model, n: int, *, seed: int = 0) -> dict[str, float]:
    """Encode -> decode ``n`` QM9 test molecules (the same ones for every entry) and score them.

    Also the equivariance error: the same molecules randomly rotated, encoded and decoded with the same
    latent-slot noise, against the rotated decodings of the originals; RMSD without any re-alignment
    (0 for an exactly equivariant model), median and 95th percentile over molecules.
    """
    from unite_mol.data import collate_arrays, qm9, random_rotations, rotate
    from unite_mol.metrics import reconstruction

    test = qm9("test")
    rows = np.arange(min(n, len(test)))
    inputs, outputs, equi = [], [], []
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for s in range(0, len(rows), 256):
            batch = collate_arrays(test.numbers, test.positions, test.offsets, rows[s: s + 256]).to(device)
            gen = torch.Generator(device=device).manual_seed(seed + s)
            z, mask = model.encode(batch, generator=gen)
            out = model.adapter.to_arrays(model.decode(z, mask), mask)
            rot = random_rotations(len(batch), generator=torch.Generator().manual_seed(seed + 7 + s)).to(device)
            gen = torch.Generator(device=device).manual_seed(seed + s)
            zr, _ = model.encode(rotate(batch, rot), generator=gen)
            out_r = model.adapter.to_arrays(model.decode(zr, mask), mask)
            for (_, x), (_, xr), r in zip(out, out_r, rot.cpu().double().numpy()):
                equi.append(float(np.sqrt(((x @ r.T - xr) ** 2).sum(1).mean())))
            outputs += out
            inputs += batch.molecules()
    res = reconstruction(inputs, outputs)
    metrics = {f"recon/{k}": v for k, v in res.metrics.items()}
    metrics["recon/equivariance_rmsd_median"] = float(np.median(equi))
    metrics["recon/equivariance_rmsd_p95"] = float(np.percentile(equi, 95))
    return metrics


def generation_eval(model, n: int, steps: int, reference: set[str], *, seed: int = 0) -> tuple[dict[str, float], list]:
    """Generation metrics of ``n`` samples: the bond-free protocols, and the predicted-bond protocol
    (``gen/bonds/...``) when the model has a bond head."""
    from unite_mol.generation import generate, generate_arrays
    from unite_mol.metrics import PROTOCOLS, evaluate

    model.eval()
    t0 = time.time()
    if model.adapter.config.bond_head:
        arrays = generate(n, seed=seed, steps=steps, model=model, bonds="model")
        protocols = (*PROTOCOLS, "bonds")
    else:
        arrays = generate_arrays(model, n, seed=seed, steps=steps)
        protocols = PROTOCOLS
    dt = time.time() - t0
    result = evaluate(arrays, reference=reference, protocols=protocols)
    m = {f"gen/{k}": v for k, v in result.metrics.items()}
    m["speed/sample_mol_per_s"] = n / dt
    m["speed/sample_steps"] = steps
    return m, arrays


def data_row(n: int | None, reference: set[str]) -> dict[str, float]:
    """The QM9 test split itself through the same metric code (calibration)."""
    from unite_mol.data import qm9
    from unite_mol.metrics import evaluate

    from unite_mol.data.bond_labels import qm9_bond_labels
    from unite_mol.metrics import PROTOCOLS
    from unite_mol.molecule import Molecule
    from unite_mol.refiner import charges_from_bonds

    test = qm9("test")
    bond_offsets, bond_rows = qm9_bond_labels("test")   # the bond head's training labels, for the bonds protocol
    k = len(test) if n is None else min(n, len(test))
    mols = []
    for i in range(k):
        z = test.numbers[test.offsets[i]: test.offsets[i + 1]]
        b = bond_rows[bond_offsets[i]: bond_offsets[i + 1]]
        mols.append(Molecule(z, test.positions[test.offsets[i]: test.offsets[i + 1]], bonds=b,
                             charges=charges_from_bonds(z, b)))
    result = evaluate(mols, reference=reference, protocols=(*PROTOCOLS, "bonds"))
    return {f"gen/{k_}": v for k_, v in result.metrics.items()}


# ----------------------------------------------------------------------------------------- training
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


def train_entry(entry: str, preset: Preset, run_dir: Path, seed: int) -> tuple[Any, dict[str, Any]]:
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
    from unite_mol.train import uncompiled

    return uncompiled(model).eval(), summary


def plot_curves(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        t_off = 0.0
        for c in row.get("curves", []):
            recs = [json.loads(line) for line in Path(c).read_text().splitlines() if line.strip()]
            if not recs:
                continue
            wall = [t_off + r.get("wall_s", r.get("elapsed_s", 0)) for r in recs]
            for ax, key in zip(axes, ("recon", "flow")):
                ys = [r.get(key) for r in recs]
                if any(y is not None for y in ys):
                    ax.plot([w for w, y in zip(wall, ys) if y is not None], [y for y in ys if y is not None],
                            label=f"{row['entry']}" + (" (stage 2)" if "stage2" in c else " (stage 1)" if "stage1" in c else ""))
            t_off = wall[-1]
    for ax, key in zip(axes, ("reconstruction loss", "flow loss (velocity MSE)")):
        ax.set_xlabel("wall-clock (s)")
        ax.set_ylabel(key)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- tables
COLUMNS = [("recon/match_adit", "recon match % (InChI)"), ("recon/rmsd", "recon RMSD A"),
           ("recon/equivariance_rmsd_median", "rotation error A (median)"),
           ("gen/edm/atom_stability", "atom stab %"), ("gen/edm/mol_stability", "mol stab %"),
           ("gen/edm/validity", "valid % (EDM bonds)"), ("gen/edm/connected", "valid+connected % (EDM)"),
           ("gen/openbabel/validity", "valid % (Open Babel)"), ("gen/openbabel/connected", "valid+connected % (Open Babel)"),
           ("gen/edm/uniqueness", "unique %"), ("gen/edm/novelty", "novel %"),
           ("gen/bonds/atom_stability", "atom stab % (predicted bonds)"),
           ("gen/bonds/mol_stability", "mol stab % (predicted bonds)"),
           ("gen/bonds/connected", "valid+connected % (predicted bonds)")]


def fmt(v: Any, pct: bool) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.2f}" if pct else f"{v:.3f}"


def markdown_table(rows: list[dict]) -> str:
    head = "| entry | " + " | ".join(c[1] for c in COLUMNS) + " | train mol/s | sample mol/s | wall s | TFLOP |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 5)]
    for r in rows:
        cells = [fmt(r.get(k), "%" in label) for k, label in COLUMNS]
        lines.append(f"| {r['entry']} | " + " | ".join(cells) + f" | {fmt(r.get('train_mol_per_s'), False)} | "
                     f"{fmt(r.get('speed/sample_mol_per_s'), False)} | {fmt(r.get('wall_s'), False)} | "
                     f"{fmt((r.get('flops') or float('nan')) / 1e12, False)} |")
    return "\n".join(lines)


def anchors_table() -> str:
    lines = ["| system (quoted, not re-run) | kind | bonds | recon match % | recon RMSD A | atom stab % | mol stab % | valid % | unique % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a in ANCHORS:
        g = lambda k: "-" if a.get(k) is None else str(a[k])  # noqa: E731
        lines.append(f"| {a['system']} | {a['kind']} | {a['bonds']} | {g('recon_match')} | {g('recon_rmsd')} | "
                     f"{g('atom_stab')} | {g('mol_stab')} | {g('valid')} | {g('unique')} |")
    return "\n".join(lines)


def write_results(out: Path, rows: list[dict], configs: dict, machine: dict) -> None:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    flat = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in rows]
    pd.DataFrame(flat).to_csv(out / "results.csv", index=False)
    (out / "configs.json").write_text(json.dumps(configs, indent=2, default=str))
    (out / "machine.json").write_text(json.dumps(machine, indent=2))
    md = [f"# QM9 benchmark: preset `{configs['preset']}`", "",
          f"Command: `{machine['command']}`  ", f"Machine: {machine['cpu']} ({machine['cores']} cores)"
          + (f", GPU {machine['gpu']}" if "gpu" in machine else "") + "  ",
          f"Commit: `{machine['commit']}`  ", f"Date: {machine['date']}; total wall-clock {machine['wall_s']:.0f} s", "",
          *([f"**Partial results: {machine['partial']}.**", ""] if "partial" in machine else []),
          "Percentages are of generated molecules; `unique %` is of valid ones (EDM bonds), `novel %` of unique",
          "valid ones. `-` = not measured. Reconstruction: the same QM9 test molecules for every entry.", "",
          markdown_table(rows), "", "Published anchors:", "", anchors_table(), ""]
    if (out / "curves.png").exists():
        md += ["![learning curves](curves.png)", ""]
    (out / "results.md").write_text("\n".join(md))


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
    p.add_argument("--no-data-row", action="store_true", help="skip the QM9-test calibration row")
    args = p.parse_args(argv)

    from unite_mol.train import parse_duration

    t_start = time.time()
    if args.preset == "pretrained":
        pr = Preset("pretrained", "-", 0, 0, samples=1000, recon=1000, steps=25)  # generate()'s default
    else:
        pr = PRESETS[args.preset]
    try:
        pr = replace(pr, samples=args.samples or pr.samples, steps=args.steps or pr.steps,
                     budget_s=parse_duration(args.budget) if args.budget else pr.budget_s)
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
    configs: dict[str, Any] = {"preset": pr.name, "settings": pr.__dict__, "seed": args.seed}
    if not args.no_data_row:
        print("[bench qm9] calibration row: QM9 test split through the same metrics", flush=True)
        n_data = None if pr.name in ("cpu", "gpu", "pretrained") else pr.samples
        rows.append({"entry": f"QM9 test data ({'all' if n_data is None else n_data})", **data_row(n_data, reference)})

    if args.checkpoint or pr.name == "pretrained":
        from unite_mol.generation import load_model

        model = load_model(args.checkpoint)
        name = Path(args.checkpoint).name if args.checkpoint else "unite (shipped model)"
        print(f"[bench qm9] {name}: reconstruction on {pr.recon} test molecules", flush=True)
        row = {"entry": name, **reconstruction_eval(model, pr.recon, seed=args.seed)}
        print(f"[bench qm9] {name}: generating {pr.samples} molecules, {pr.steps} Heun steps", flush=True)
        gen, _ = generation_eval(model, pr.samples, pr.steps, reference, seed=args.seed)
        row.update(gen)
        row["params"] = int(sum(p.numel() for p in model.parameters()))
        configs["model"] = getattr(model, "meta", {})
        rows.append(row)
    else:
        for k, entry in enumerate(entries):
            print(f"[bench qm9] entry {k + 1}/{len(entries)} {entry}: training for {pr.budget_s:.0f} s "
                  f"(ETA for all training {pr.budget_s * (len(entries) - k):.0f} s)", flush=True)
            run_dir = Path(args.runs) / f"{pr.name}-{stamp}" / entry
            if run_dir.exists():
                shutil.rmtree(run_dir)
            model, summary = train_entry(entry, pr, run_dir, args.seed)
            print(f"[bench qm9] entry {entry}: evaluating", flush=True)
            row = {**summary, **reconstruction_eval(model, pr.recon, seed=args.seed)}
            gen, _ = generation_eval(model, pr.samples, pr.steps, reference, seed=args.seed)
            row.update(gen)
            rows.append(row)
            # keep the learning curves with the results
            dest = out / "curves" / entry
            dest.mkdir(parents=True, exist_ok=True)
            for c in summary["curves"]:
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
