"""Does valence guidance change a molecule's geometry, or does it admit worse molecules? A paired test.

The default sampler and the model alone (``valence_steps=0``) start each molecule from the same noise and
composition (same seed and index), so sample ``i`` of both is the same trajectory until guidance acts (t >= 0.9
and on the finished latent). Both samples of each pair are relaxed with GFN2-xTB where both are EDM-valid and
connected (the first ``--pairs``); the rows also count the molecules that only one sampler makes valid.

    .venv/bin/python benchmarks/qm9/valence/paired.py --n 400 --pairs 100 --seed 0 --out runs/valence-paired
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from unite_mol import evaluate, generate
from unite_mol.metrics.physics import relaxation_metrics
from unite_mol.sampling import SamplerConfig


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default="runs/valence-paired")
    a = p.parse_args()
    t0 = time.time()
    mols = {"alone": generate(a.n, seed=a.seed, sampler=SamplerConfig(valence_steps=0), progress=False),
            "default": generate(a.n, seed=a.seed, progress=False)}
    ok = {}
    for k, ms in mols.items():
        ev = evaluate(ms, protocols=("edm",)).records
        ok[k] = (ev["edm_valid"] & ev["edm_connected"]).to_numpy(bool)
    same_formula = np.array([m1.formula == m2.formula for m1, m2 in zip(mols["alone"], mols["default"])])
    both = np.flatnonzero(ok["alone"] & ok["default"] & same_formula)[: a.pairs]
    e = {}
    for k in mols:   # every molecule passed is valid and connected, so all of them are relaxed, in order
        _, rec = relaxation_metrics([mols[k][i] for i in both], xtb_n=len(both), workers=a.workers)
        e[k] = np.array([rec[j]["xtb_relax_kcal"] if j in rec and rec[j]["xtb_ran"] else np.nan
                         for j in range(len(both))])
    fin = np.isfinite(e["alone"]) & np.isfinite(e["default"])
    d = e["default"][fin] - e["alone"][fin]
    res = {"n": a.n, "seed": a.seed, "valid_conn_alone": float(ok["alone"].mean()),
           "valid_conn_default": float(ok["default"].mean()),
           "only_default_valid": int((ok["default"] & ~ok["alone"]).sum()),
           "only_alone_valid": int((ok["alone"] & ~ok["default"]).sum()),
           "pairs": int(fin.sum()),
           "median_alone_kcal": float(np.median(e["alone"][fin])), "median_default_kcal": float(np.median(e["default"][fin])),
           "mean_alone_kcal": float(e["alone"][fin].mean()), "mean_default_kcal": float(e["default"][fin].mean()),
           "median_paired_difference_kcal": float(np.median(d)),
           "share_default_lower": float((d < 0).mean()),
           "identical_pairs": int((np.abs(d) < 1e-6).sum()), "wall_s": round(time.time() - t0, 1)}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"paired-seed{a.seed}.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
