"""Peak memory and time of one UNITE training step on CPU at drug sizes (55 and 180 atoms).

One step = the UNITE loss (tokenization pass, 2 denoising copies, decoder; reconstruction + flow) on a
randomly rotated batch, its backward pass and an AdamW update, under the same bf16 autocast decision as
the trainer (:func:`unite_mol.runtime.use_bf16` with ``"auto"``). Molecules are synthetic: ``atoms`` atoms
each (no padding), drug-like elements, random positions in a ball at about 0.1 atoms per cubic Angstrom
with no two atoms closer than 0.9 A. Memory depends on the shapes only (the e3nn descriptors and the
pairwise-distance loss are dense N x N per molecule), so the geometry does not matter for it.

Each measurement runs in a fresh Python process so that peaks do not mix; the parent only waits.
Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the steps; ``before`` is the RSS just
before the first step (model built, batch made); ``step`` = peak - before. Time: median of 3 steps after
one warm-up step, one thread.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/drugs/memory/measure.py all
    .venv/bin/python benchmarks/drugs/memory/measure.py one --atoms 180 --preset GE-CPU --batch 16
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ELEMENTS = (1, 6, 7, 8, 9, 16, 17, 35)
ELEMENT_P = (0.45, 0.38, 0.07, 0.06, 0.01, 0.01, 0.01, 0.01)   # roughly the drug-like set's composition
GRID = [(atoms, preset, batch) for atoms in (55, 180) for preset in ("GE-T", "GE-CPU") for batch in (4, 16, 64)]
EXTRA = [(180, "GE-CPU", 16, "no-descriptors")]   # what the e3nn descriptors cost at a large point
#: the machine is shared: a point whose step is predicted (linearly in batch from a smaller batch of the same
#: atoms and preset) to need more than this is not run, and its row says so
LIMIT_MB = 6000


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic_batch(atoms: int, batch: int, seed: int = 0):
    import numpy as np

    from unite_mol.data import collate
    from unite_mol.molecule import Molecule

    rng = np.random.default_rng(seed)
    radius = (3 * atoms / (4 * np.pi * 0.1)) ** (1 / 3)
    mols = []
    for _ in range(batch):
        pts: list = []
        while len(pts) < atoms:
            p = rng.uniform(-radius, radius, 3)
            if np.linalg.norm(p) <= radius and all(np.linalg.norm(p - q) > 0.9 for q in pts):
                pts.append(p)
        mols.append(Molecule(rng.choice(ELEMENTS, atoms, p=ELEMENT_P), np.array(pts)))
    return collate(mols)


def one(atoms: int, preset: str, batch: int, variant: str) -> dict:
    import torch

    from unite_mol.core.model import preset as ge_preset
    from unite_mol.core.unite import UniteConfig, unite_loss
    from unite_mol.data import random_rotation
    from unite_mol.generation import build_model
    from unite_mol.molecular import MoleculeConfig
    from unite_mol.runtime import use_bf16

    torch.set_num_threads(1)
    torch.manual_seed(0)
    mol_cfg = MoleculeConfig(elements=ELEMENTS, max_atoms=atoms, coord_scale=3.0,
                             use_descriptors=variant != "no-descriptors")
    model = build_model(ge_preset(preset), mol_cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = synthetic_batch(atoms, batch)
    cfg = UniteConfig(flow_copies=2)
    amp = use_bf16("auto", torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    before = rss_mb()
    times = []
    for k in range(4):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss, _ = unite_loss(model, random_rotation(data, gen), gen, cfg)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k:
            times.append(time.perf_counter() - t0)
        assert torch.isfinite(loss), "non-finite loss"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
    return {"atoms": atoms, "preset": preset, "batch": batch, "variant": variant, "bf16": amp,
            "params": sum(p.numel() for p in model.parameters()), "rss_before_mb": round(before),
            "peak_rss_mb": round(peak), "step_mb": round(peak - before),
            "step_s": round(sorted(times)[len(times) // 2], 3), "mol_per_s": round(batch / sorted(times)[len(times) // 2], 2)}


def report(rows: list[dict], wall_s: float, command: str) -> str:
    sys.path.insert(0, str(HERE.parents[2]))
    from unite_mol.runtime import machine_info

    m = machine_info(command)
    lines = ["# One UNITE training step on CPU at drug sizes: peak memory and time", "",
             f"Command: `{command}`  ", f"Machine: {m['cpu']} ({m['cores']} cores, shared with other jobs; one thread "
             f"per measurement, load average {m['load_avg_1m']:.1f} at the end)  ", f"Commit: `{m['commit']}`  ",
             f"Date: {m['date']}; total wall-clock {wall_s:.0f} s", "",
             "Each row is a fresh process (see `measure.py`): synthetic molecules of `atoms` atoms, no padding, one",
             "training step = UNITE loss with 2 flow copies + backward + AdamW, bf16 autocast as the trainer decides.",
             "`before` = RSS with model and batch built; `peak` = ru_maxrss after 4 steps; `step` = peak - before.", "",
             "| atoms | preset | params | batch | variant | before MB | peak MB | step MB | s/step | mol/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['atoms']} | {r['preset']} | - | {r['batch']} | {r['variant']} | {r['error']} |||||")
            continue
        lines.append(f"| {r['atoms']} | {r['preset']} | {r['params']:,} | {r['batch']} | {r['variant']} | "
                     f"{r['rss_before_mb']} | {r['peak_rss_mb']} | {r['step_mb']} | {r['step_s']} | {r['mol_per_s']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("one", help="one measurement in this process; prints a JSON line")
    q.add_argument("--atoms", type=int, required=True)
    q.add_argument("--preset", required=True)
    q.add_argument("--batch", type=int, required=True)
    q.add_argument("--variant", default="default", choices=["default", "no-descriptors"])
    q = sub.add_parser("all", help="the grid, each point in a fresh process, then results.md / results.jsonl")
    q.add_argument("--out", default=str(HERE))
    args = p.parse_args(argv)
    if args.cmd == "one":
        print(json.dumps(one(args.atoms, args.preset, args.batch, args.variant)), flush=True)
        return 0
    t0 = time.time()
    rows = []
    for atoms, preset, batch, *variant in [*GRID, *EXTRA]:
        seen = [r for r in rows if (r["atoms"], r["preset"], r["variant"]) == (atoms, preset, "default")
                and "step_mb" in r and r["batch"] < batch]
        predicted = max((r["step_mb"] * batch / r["batch"] for r in seen), default=0.0)
        if predicted > LIMIT_MB and not variant:
            rows.append({"atoms": atoms, "preset": preset, "batch": batch, "variant": "default",
                         "error": f"not run: predicted step {predicted / 1024:.1f} GB > {LIMIT_MB / 1024:.1f} GB limit"})
            print(json.dumps(rows[-1]), flush=True)
            continue
        cmd = [sys.executable, __file__, "one", "--atoms", str(atoms), "--preset", preset, "--batch", str(batch),
               "--variant", variant[0] if variant else "default"]
        res = subprocess.run(cmd, capture_output=True, text=True)   # one at a time: the parent only waits
        if res.returncode == 0:
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        else:
            tail = (res.stderr.strip().splitlines() or ["exit %d" % res.returncode])[-1][:120]
            rows.append({"atoms": atoms, "preset": preset, "batch": batch, "variant": variant[0] if variant else "default",
                         "error": tail})
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    command = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/drugs/memory/measure.py all"
    (out / "results.md").write_text(report(rows, time.time() - t0, command))
    print(out / "results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
