"""Per-channel latent statistics (the diagnostic's dead-channel check) of the 20-minute 8-channel arms,
with and without the fixed latent norm, and of the shipped model: 500 QM9 test molecules.

    .venv/bin/python benchmarks/qm9/latent-width/channels.py > benchmarks/qm9/latent-width/fixed-norm/channels.md
"""

import numpy as np

from unite_mol.bench.diagnose import encode_molecules, latent_stats
from unite_mol.data.qm9 import qm9
from unite_mol.generation import load_model

test = qm9("test")
molecules = [test[i] for i in range(500)]
print("| model | per-channel std of the clean latents | dead (std < 0.01) | rms |")
print("|---|---|---|---|")
for name, path in [("W8 (20 min)", "runs/lwb-8/model"), ("W8, fixed latent norm (20 min)", "runs/lwb-8-fixed/model"),
                   ("the shipped model", None)]:
    s = latent_stats(encode_molecules(load_model(path).eval(), molecules).latents())
    print(f"| {name} | {' '.join(f'{v:.3f}' for v in np.asarray(s['std']))} | {s['dead_channels']} | {s['rms']:.3f} |")
