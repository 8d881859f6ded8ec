"""``python -m unite_mol.bench throughput``: training speed of the shipped recipe on this machine.

The generation issue counts a faster step as a lever like any other (equal wall-clock buys more steps).
For each variant (default: bf16 autocast, fp32, bf16 + ``torch.compile``) this runs
``python -m unite_mol.train`` itself from the shipped model with the shipped recipe (decoder stage, bond
head, self-conditioning; ``benchmarks/qm9/training``) for ``--budget`` seconds, and reads back:

* the steady-state rate (steps/s and molecules/s between a third of the run and its end, so compilation
  and warm-up are excluded) and the time to the first logged step (compilation shows here);
* FLOPs per step (torch's FlopCounterMode, as the trainer records them) and the achieved GFLOP/s;
* this CPU's matmul peak at the same thread count (a 2048 x 2048 matmul, fp32 and bf16), for scale;
* padding: the share of atom slots in the training batches that hold real atoms (size-bucketed batches).

Writes ``results.json`` / ``results.md`` / ``machine.json`` into ``--out``. The runs go to a temporary
folder and are deleted. Timing is only meaningful on an otherwise idle machine; ``machine.json`` records
the load average at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from unite_mol.files import atomic_open
from unite_mol.runtime import machine_info, parse_duration

#: the shipped model's training flags (benchmarks/qm9/training/launch.sh with EXTRA="--self-cond --element-cond")
RECIPE = ["--lr", "1e-4", "--warmup", "20", "--refine-layers", "3", "--local-weight", "0.02", "--bond-head",
          "--refiner-lr-mult", "10", "--self-cond", "--element-cond"]
VARIANTS = {"bf16": ["--amp", "bf16"], "fp32": ["--amp", "off"], "bf16+compile": ["--amp", "bf16", "--compile"]}


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` at torch's current thread count (best of ``repeats``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def padding_share(batch_size: int = 128, epochs: int = 1) -> float:
    """Real atoms / atom slots over the QM9 training batches of the bucketed sampler."""
    from unite_mol.data import BucketBatchSampler, qm9

    sizes = qm9("train").num_atoms
    sampler = BucketBatchSampler(sizes, batch_size, seed=0)
    real = slots = 0
    for e in range(epochs):
        for rows in sampler.epoch(e):
            real += int(sizes[rows].sum())
            slots += len(rows) * int(sizes[rows].max())
    return real / slots


def steady_rate(curve: Path) -> dict[str, float]:
    """Steps/s between the first log line at or after a third of the run and the last one; first-log wall.

    A run with fewer than two log lines (e.g. compilation used up the budget) gets NaN rates and a ``note``.
    """
    lines = [json.loads(x) for x in curve.read_text().splitlines() if x.strip()] if curve.is_file() else []
    if len(lines) < 2:
        first = lines[0] if lines else {"wall_s": float("nan"), "step": 0}
        return {"steps_per_s": float("nan"), "first_log_s": first["wall_s"], "first_log_step": first["step"],
                "steps": first["step"], "note": "fewer than two log lines in the budget: no steady rate"}
    end = lines[-1]
    start = next(x for x in lines if x["wall_s"] >= end["wall_s"] / 3)
    if start is end:
        start = lines[-2]
    return {"steps_per_s": (end["step"] - start["step"]) / (end["wall_s"] - start["wall_s"]),
            "first_log_s": lines[0]["wall_s"], "first_log_step": lines[0]["step"], "steps": end["step"]}


def run_variant(name: str, flags: list[str], *, model: str, budget_s: float, batch_size: int, seed: int,
                workdir: Path) -> dict[str, Any]:
    from unite_mol.train import configs_from_args, parse_args, train

    run = workdir / name
    argv = ["--run-dir", str(run), "--init-from", model, "--budget", f"{budget_s:.0f}s", "--steps", "100000",
            "--batch-size", str(batch_size), "--seed", str(seed), "--log-every", "5", "--ckpt-every", "100000",
            "--lr-schedule", "constant", *RECIPE, *flags]
    cfg, tcfg = configs_from_args(parse_args(argv))   # the command's own flags, typed; then its training path
    _, trained = train(cfg, tcfg, run)
    if trained["stopped"] == "signal" and trained["stopped_in"] == "stage1":   # where the command exits non-zero
        raise RuntimeError(f"variant {name}: training stopped by a signal in stage 1")
    record = json.loads((run / "entry.json").read_text())
    rate = steady_rate(run / "metrics.jsonl")
    flops = float(record["stages"][-1]["flops_per_step"])
    return {"variant": name, "flags": " ".join(flags), **rate, "mol_per_s": rate["steps_per_s"] * batch_size,
            "gflop_per_step": flops / 1e9, "gflop_per_s": flops * rate["steps_per_s"] / 1e9,
            "run_steps": int(record["steps"]), "run_s": float(record["elapsed_s"])}


def markdown(rows: list[dict[str, Any]], extra: dict[str, Any], machine: dict[str, Any]) -> str:
    lines = ["# Training throughput of the shipped recipe", "",
             f"Command: `{machine['command']}`  ", f"Commit `{machine['commit']}`, {machine['cpu']}, "
             f"{machine['torch_threads']} torch threads, {machine['date']}; wall-clock {machine['wall_s']:.0f} s.", "",
             f"Matmul peak here (2048 x 2048): fp32 {extra['peak_fp32_gflops']:.0f} GFLOP/s, bf16 "
             f"{extra['peak_bf16_gflops']:.0f} GFLOP/s. Padding: {100 * extra['padding_share']:.1f} % of the atom "
             "slots in the training batches hold real atoms.", "",
             "| variant | flags | steady steps/s | molecules/s | GFLOP/step | achieved GFLOP/s | first log (s, step) "
             "| steps in the budget | note |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | `{r['flags']}` | {r['steps_per_s']:.3f} | {r['mol_per_s']:.1f} | "
                     f"{r['gflop_per_step']:.0f} | {r['gflop_per_s']:.1f} | {r['first_log_s']:.0f}, {r['first_log_step']} "
                     f"| {r['run_steps']} in {r['run_s']:.0f} s | {r.get('note', '')} |")
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict[str, Any]], extra: dict[str, Any], t0: float) -> dict[str, Any]:
    """Write results.json / results.md / machine.json into ``out``; returns the machine record."""
    machine = machine_info()
    machine["wall_s"] = time.time() - t0
    machine["load_average"] = os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "results.json", "w") as fh:
        fh.write(json.dumps({"rows": rows, **extra}, indent=2))
    with atomic_open(out / "machine.json", "w") as fh:
        fh.write(json.dumps(machine, indent=2))
    with atomic_open(out / "results.md", "w") as fh:
        fh.write(markdown(rows, extra, machine))
    return machine


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench throughput", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="unite_mol/pretrained/unite-qm9", help="the saved model the runs start from")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {list(VARIANTS)}")
    p.add_argument("--budget", default="3m", help="wall-clock per variant")
    p.add_argument("--batch-size", type=int, default=128, help="molecules per step")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default="runs/throughput", help="results folder")
    args = p.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in names if v not in VARIANTS]
    try:
        if bad or not names:
            raise ValueError(f"unknown variants {bad}; choose from {list(VARIANTS)}")
        budget = parse_duration(args.budget)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("UNITE_MOL_NO_PROGRESS", "1")
    t0 = time.time()
    extra = {"peak_fp32_gflops": matmul_peak(torch.float32), "peak_bf16_gflops": matmul_peak(torch.bfloat16),
             "padding_share": padding_share(args.batch_size)}
    rows: list[dict[str, Any]] = []
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="unite-throughput-") as tmp:
        for k, name in enumerate(names):
            print(f"[throughput] variant {k + 1}/{len(names)} {name}: {budget:.0f} s "
                  f"(ETA {budget * (len(names) - k):.0f} s)", file=sys.stderr, flush=True)
            rows.append(run_variant(name, VARIANTS[name], model=args.model, budget_s=budget,
                                    batch_size=args.batch_size, seed=args.seed, workdir=Path(tmp)))
            write(out, rows, extra, t0)          # partial results after every variant
    print(markdown(rows, extra, write(out, rows, extra, t0)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
