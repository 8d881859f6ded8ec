"""Where the flow loss of a QM9 model comes from, by time t (issue 26, part 4: is the middle of the flow starved
by the loss weighting?). For 256 QM9 test molecules (bench partial's draw and noise), the denoiser's one-step
clean-latent error at fixed t (no self-conditioning estimate, as at a sampler's first step): x-MSE and the
velocity MSE the training loss uses (``unite_mol.core.flow.flow_loss``), and each t's share of the expected
training loss under the model's time distribution (logit-normal(0, 1), no shift).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/qm9/recipe/loss_by_time.py [MODEL]   # about 2 min, 1 thread
"""

import math
import sys

import torch

from unite_mol.bench.partial import encode_molecules, one_step, test_molecules
from unite_mol.core.flow import velocity
from unite_mol.model_io import load_model

TIMES = (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.92, 0.97)


def logit_normal(t: float) -> float:
    lg = math.log(t / (1 - t))
    return math.exp(-lg * lg / 2) / math.sqrt(2 * math.pi) / (t * (1 - t))


@torch.no_grad()
def main(name: str = "qm9") -> None:
    torch.set_num_threads(1)
    model = load_model(name)
    enc = encode_molecules(model, test_molecules(256, 0), seed=0)
    rows = []
    for t in TIMES:
        x_err = v_err = count = 0.0
        for z0, mask, z_t, x, _ in one_step(model, enc, t):
            m = mask.unsqueeze(-1).float()                                        # (B, N, 1)
            tt = torch.full((len(z0),), t)                                        # (B,)
            x_err += float(((x - z0) * m).pow(2).sum())
            v_err += float(((velocity(x, z_t, tt) - velocity(z0, z_t, tt)) * m).pow(2).sum())
            count += float(mask.sum()) * z0.shape[-1]
        rows.append((t, x_err / count, v_err / count))
    var = float(torch.cat([z0[mask] for z0, mask, _, _ in enc.chunks]).float().var(0).mean())
    total = sum(logit_normal(t) * v for t, _, v in rows)
    print(f"model {name}; clean-latent variance per channel {var:.2f}\n")
    print("| t | x-MSE | velocity MSE | density p(t) | share of the training loss |\n|---|---|---|---|---|")
    for t, x, v in rows:
        print(f"| {t:.2f} | {x:.4f} | {v:.4f} | {logit_normal(t):.3f} | {logit_normal(t) * v / total:.3f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
