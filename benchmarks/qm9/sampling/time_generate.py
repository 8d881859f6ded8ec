"""Time generate(1000) at the defaults on an idle machine (model loaded first, not timed):

    .venv/bin/python benchmarks/qm9/sampling/time_generate.py
"""
import time, torch
from unite_mol import generate, load_model
m = load_model()
t = time.perf_counter(); mols = generate(1000, seed=0, model=m, progress=False); dt = time.perf_counter() - t
print(f"generate(1000) at the defaults: {dt:.1f} s on {torch.get_num_threads()} threads ({len(mols)} molecules)")
