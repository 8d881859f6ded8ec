"""Learning curves of image runs: a cheap reconstruction score at every checkpoint, and the picture of many runs.

While a run trains, ``python -m unite_mol.images.train`` calls :func:`record_point` after every checkpoint
of every stage: the EMA model reconstructs a fixed validation subset (the first ``curve_images`` test images
of Fashion-MNIST) and one line goes into that stage's ``eval.jsonl`` (the molecule runs' name for their
held-out reconstruction log): ``step``, ``samples``, ``elapsed_s`` (the stage's training seconds across
resumes, as the trainer counts them), ``val_psnr``, ``val_ssim``, ``val_images`` and ``eval_s`` (the seconds
the score took). The trainer counts checkpoint time, this score included, inside the training budget, the
same for every entry; at 256 images it is well under a second on a CPU core.

``python -m unite_mol.images.curves NAME=RUN ... --out DIR`` (also run by ``images.evaluate --runs``) reads
those logs, the two-stage baseline's stage 2 placed after its stage 1, and writes ``curves.png`` (PSNR and
SSIM against training wall-clock minutes, one line per run), ``curves.csv`` and ``curves.md`` (the scores at
given minutes, linearly interpolated between checkpoints, and the share of the run the scoring took).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from unite_mol.core.run_files import read_jsonl, truncate_metrics
from unite_mol.files import atomic_open
from unite_mol.images.adapter import ImageBatch, reconstruct_images
from unite_mol.images.metrics import psnr, ssim

EVAL_LOG = "eval.jsonl"
#: the stage folders of a run, in training order ("" = the run folder itself)
STAGES = ("", "stage1", "stage2")


@torch.no_grad()
def recon_scores(model, batch: ImageBatch, *, seed: int = 0, chunk: int = 256) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of ``model``'s reconstructions of ``batch`` (deterministic given ``seed``)."""
    device = next(model.parameters()).device
    rec, ref = [], []
    for i in range(0, len(batch), chunk):
        part = ImageBatch(batch.images[i: i + chunk], batch.labels[i: i + chunk]).to(device)
        rec.append(reconstruct_images(model, part, seed=seed).cpu())
        ref.append(part.images.cpu())
    r, x = torch.cat(rec), torch.cat(ref)                              # (n, C, H, W)
    return {"val_psnr": round(float(psnr(r, x).mean()), 4), "val_ssim": round(float(ssim(r, x).mean()), 5)}


def record_point(trainer, batch: ImageBatch) -> dict[str, Any]:
    """Score the trainer's EMA model on ``batch`` and append the line to ``trainer.run_dir / eval.jsonl``
    (lines from this step on, left by a run killed before its next checkpoint, are dropped first)."""
    from unite_mol.runtime import uncompiled

    t0 = time.monotonic()
    model = uncompiled(trainer.ema_model())
    rec = {"step": trainer.step, "samples": trainer.samples_seen, "elapsed_s": round(trainer.elapsed, 2),
           **recon_scores(model, batch), "val_images": len(batch)}
    rec["eval_s"] = round(time.monotonic() - t0, 3)
    path = Path(trainer.run_dir) / EVAL_LOG
    truncate_metrics(path, trainer.step - 1)
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    return rec


def read_curve(run_dir: str | Path) -> list[dict[str, Any]]:
    """A run's curve points in training order, each with ``stage`` and ``wall_s`` (training seconds since the
    run began: a later stage's ``elapsed_s`` plus the earlier stages' last). Empty if there is none yet."""
    points: list[dict[str, Any]] = []
    offset = 0.0
    for stage in STAGES:
        path = Path(run_dir) / stage / EVAL_LOG
        if not path.exists():
            continue
        recs = read_jsonl(path)               # a torn last line of a killed run is skipped
        for r in recs:
            points.append({**r, "stage": stage or "run", "wall_s": offset + float(r["elapsed_s"])})
        if recs:
            offset += float(recs[-1]["elapsed_s"])
    return points


def value_at(points: list[dict[str, Any]], key: str, minutes: float) -> float | None:
    """``key`` at ``minutes`` of training, linearly interpolated between points; the last point if the run
    ended within 2 % short of it; None outside the curve."""
    pts = [(p["wall_s"] / 60, p[key]) for p in points if p.get(key) is not None]
    if not pts or minutes < pts[0][0]:
        return None
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= minutes <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (minutes - t0) / (t1 - t0)
    return pts[-1][1] if pts[-1][0] >= 0.98 * minutes else None


def curve_rows(curves: dict[str, list[dict[str, Any]]], minutes: list[float]) -> list[dict[str, Any]]:
    """One table row per run: its end, the scores at ``minutes``, and the share of the run spent scoring."""
    rows = []
    for name, pts in curves.items():
        row: dict[str, Any] = {"run": name, "points": len(pts)}
        if pts:
            wall = pts[-1]["wall_s"]
            row.update(last_step=pts[-1]["step"], train_min=round(wall / 60, 2),
                       final_psnr=pts[-1]["val_psnr"], final_ssim=pts[-1]["val_ssim"],
                       curve_cost_pct=round(100 * sum(p.get("eval_s", 0.0) for p in pts) / max(wall, 1e-9), 2))
        for m in minutes:
            for key in ("val_psnr", "val_ssim"):
                v = value_at(pts, key, m)
                row[f"{key.removeprefix('val_')}_{m:g}m"] = None if v is None else round(v, 4)
        rows.append(row)
    return rows


def plot_curves(curves: dict[str, list[dict[str, Any]]], path: Path, *, mark_minutes: float | None = 30.0) -> None:
    """PSNR and SSIM against training wall-clock minutes, one line per run, into ``path`` (PNG, atomic)."""
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend switch

    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, key, label in zip(axes, ("val_psnr", "val_ssim"), ("PSNR (dB)", "SSIM")):
        for name, pts in curves.items():
            if pts:
                ax.plot([p["wall_s"] / 60 for p in pts], [p[key] for p in pts], marker=".", label=name)
        if mark_minutes:
            ax.axvline(mark_minutes, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("training wall-clock (min)")
        ax.set_ylabel(f"validation reconstruction {label}")
        if ax.lines:
            ax.legend(fontsize=8)
    n = max((p.get("val_images", 0) for pts in curves.values() for p in pts), default=0)
    fig.suptitle(f"reconstruction of {n} fixed test images (EMA weights) at every checkpoint", fontsize=9)
    fig.tight_layout()
    with atomic_open(path) as fh:
        fig.savefig(fh, dpi=110, format="png")


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_curves(runs: dict[str, str | Path], out: str | Path, *, minutes: tuple[float, ...] = (15, 30, 60)
                 ) -> list[dict[str, Any]]:
    """``curves.png``, ``curves.csv`` and ``curves.md`` of ``runs`` (name -> run folder) into ``out``; the rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {name: read_curve(run) for name, run in runs.items()}
    plot_curves(curves, out / "curves.png")
    rows = curve_rows(curves, list(minutes))
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_open(out / "curves.csv", "w") as fh:
        fh.write(",".join(cols) + "\n")
        fh.writelines(",".join("" if r.get(c) is None else str(r[c]) for c in cols) + "\n" for r in rows)
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    with atomic_open(out / "curves.md", "w") as fh:
        fh.write("\n".join(md) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.images.curves", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("runs", nargs="+", help="NAME=RUN_DIR (folders of python -m unite_mol.images.train)")
    p.add_argument("--out", required=True, help="folder for curves.png, curves.csv, curves.md")
    p.add_argument("--minutes", default="15,30,60", help="comma-separated training minutes the table reads")
    args = p.parse_args(argv)
    try:
        pairs = [spec.split("=", 1) for spec in args.runs]
        if any(len(q) != 2 or not q[0] for q in pairs):
            raise ValueError("runs must be given as NAME=RUN_DIR")
        missing = [run for _, run in pairs if not Path(run).is_dir()]
        if missing:
            raise ValueError(f"no such run folder: {', '.join(missing)}")
        minutes = tuple(float(m) for m in args.minutes.split(",") if m.strip())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_curves(dict(pairs), args.out, minutes=minutes)
    print((Path(args.out) / "curves.md").read_text(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
