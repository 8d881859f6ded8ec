"""``python -m unite_mol.bench run RUN_DIR OUT_DIR``: commit-ready record of a training run.

Copies the run's ``config.json``, ``metrics.jsonl`` and ``eval.jsonl`` (held-out reconstruction at each
checkpoint) into ``OUT_DIR``, draws ``curves.png`` (training losses against steps; validation element
accuracy and aligned RMSD against steps) and writes ``README.md`` with the training command, the
machine, the commit and the wall-clock.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench run")
    p.add_argument("run_dir", help="a training run folder")
    p.add_argument("out_dir", help="where to write the record (e.g. benchmarks/qm9/train-...)")
    p.add_argument("--command", required=True, help="the command that trained the run (recorded verbatim)")
    args = p.parse_args(argv)

    from matplotlib.figure import Figure  # object API: no pyplot, no global backend switch

    from unite_mol.runtime import machine_info

    run, out = Path(args.run_dir), Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "metrics.jsonl", "eval.jsonl"):
        if (run / name).exists():
            shutil.copy(run / name, out / name)
    train = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    evals = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines() if x.strip()] if (run / "eval.jsonl").exists() else []
    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2)
    steps = [r["step"] for r in train]
    for key in ("loss", "recon", "flow", "ce", "coord", "dist"):
        if key in train[-1]:
            axes[0].plot(steps, [r.get(key) for r in train], label=key)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses")
    axes[0].legend(fontsize=8)
    if evals:
        es = [e["step"] for e in evals]
        axes[1].plot(es, [e["val_rmsd_median_A"] for e in evals], marker="o", label="median aligned RMSD (A)")
        axes[1].plot(es, [max(1 - e["val_elem_acc"], 1e-5) for e in evals], marker="s", label="element error rate (floor 1e-5)")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("step")
        axes[1].set_title("held-out reconstruction (512 validation molecules, EMA weights)")
        axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    info = machine_info()
    last = train[-1]
    final = evals[-1] if evals else {}
    lines = [f"# Training run `{run.name}`", "", f"Command: `{args.command}`  ",
             f"Machine: {info['cpu']} ({info['cores']} cores), torch {info['torch']}  ",
             f"Commit of this record: `{info['commit']}`  ", f"Recorded: {info['date']}", "",
             f"Steps: {last['step']:,}; samples seen: {last.get('samples', 0):,}; wall-clock: {last.get('wall_s', 0):.0f} s.", "",
             "Final held-out reconstruction (EMA weights): " + ", ".join(f"{k} {v:.4g}" for k, v in final.items()
                                                                          if isinstance(v, float)), "",
             "![curves](curves.png)", ""]
    (out / "README.md").write_text("\n".join(lines))
    print((out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
