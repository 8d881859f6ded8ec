"""Wall-clock of generate(1000) (seed 0, the shipped model) per sampler setting, after a 20-molecule warm-up.

    OMP_NUM_THREADS=2 python benchmarks/qm9/valence/timing.py "valence_steps=10" "steps=50,valence_steps=3,valence_from=0.9"

Each argument is comma-separated SamplerConfig fields (values with a dot are floats, True / False booleans);
"" = the defaults.
"""
import sys
import time

from unite_mol import generate
from unite_mol.generation import load_model
from unite_mol.runtime import matmul_gflops


def value(v: str):
    return {"True": True, "False": False}.get(v, float(v) if "." in v else int(v) if v.lstrip("-").isdigit() else v)


model = load_model()
generate(20, seed=5, model=model, progress=False)
for spec in sys.argv[1:]:
    kw = {k: value(v) for k, v in (p.split("=") for p in spec.split(",") if p)}
    t = time.time()
    generate(1000, seed=0, model=model, progress=False, sampler=kw)
    print(f"{spec or 'defaults'}: {time.time() - t:.1f} s (fp32 matmul {matmul_gflops():.0f} GFLOP/s after)", flush=True)
