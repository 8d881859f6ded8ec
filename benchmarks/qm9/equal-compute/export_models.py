"""Model files (``RUN_DIR/model``) for entries of ``launch-2h.sh`` scored before ``bench qm9`` kept them: each entry
is resumed from its final checkpoint through the bench's own training function, which trains no further (its budget
is spent), returns the EMA model that was scored and now saves it. For ``bench alignment`` and
``recipe/latent_channels.py``.

    .venv/bin/python benchmarks/qm9/equal-compute/export_models.py runs/eq2h-s0 0 unite two-stage
    .venv/bin/python benchmarks/qm9/equal-compute/export_models.py runs/eq2h-lnsg-s0 0 unite --latent-norm-stop-grad
"""
import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("UNITE_MOL_NO_PROGRESS", "1")

import torch  # noqa: E402

from unite_mol.bench.qm9 import PRESETS  # noqa: E402
from unite_mol.bench.qm9_train import train_entry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", help="the --runs folder of launch-2h.sh (entries under RUNS/cpu/<entry>)")
    ap.add_argument("seed", type=int)
    ap.add_argument("entries", nargs="+")
    ap.add_argument("--budget-s", type=float, default=7200.0, help="the entries' budget (2 h)")
    ap.add_argument("--latent-norm-stop-grad", action="store_true", help="as the run was trained (LNSG=1)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    preset = replace(PRESETS["cpu"], budget_s=args.budget_s, latent_norm_stop_grad=args.latent_norm_stop_grad)
    for entry in args.entries:
        run = Path(args.runs) / "cpu" / entry
        record = json.loads((run / "entry.json").read_text()) if (run / "entry.json").is_file() else {}
        if record.get("stopped") != "budget":   # resuming an unfinished run would train it further
            raise SystemExit(f"{run}: no run there that ran out its budget")
        _, summary = train_entry(entry, preset, run, args.seed)
        print(f"{run}/model: {summary['steps']} steps, {summary['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
