"""How much of the clean latent does each channel carry (issue 26, the dead latent channels)? For each model
file given: the latent LayerNorm's gain per channel and the standard deviation of the clean latent per
channel over the real atoms of the first 512 QM9 test molecules (a channel whose std is near 0 is a constant:
it carries nothing for the decoder and costs the flow nothing), as a markdown table on stdout.

    .venv/bin/python benchmarks/qm9/recipe/latent_channels.py [NAME=]MODEL ... > OUT.md

MODEL: a saved molecule model (`RUN_DIR/model`, the bench's entries save theirs); no argument: the shipped one.
A two-stage model's latent is its VAE posterior mean, after the same kind of norm.
"""
import sys

import numpy as np
import torch

from unite_mol import load_model
from unite_mol.data import collate_arrays, qm9

N, DEAD = 512, 0.05


def channel_stats(model) -> tuple[np.ndarray, np.ndarray]:
    """(gain, clean-latent std) per latent channel."""
    test = qm9("test")
    zs = []
    with torch.no_grad():
        for s in range(0, N, 128):
            batch = collate_arrays(test.numbers, test.positions, test.offsets, np.arange(s, min(s + 128, N)))
            z, mask = model.encode(batch, generator=torch.Generator().manual_seed(s))
            zs.append(z[mask.bool()])
    return model.ge.latent_norm.weight.detach().numpy(), torch.cat(zs).std(0).numpy()


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    specs = argv or ["shipped"]
    print(f"Per latent channel: LayerNorm gain, and the clean latent's std over the atoms of {N} QM9 test "
          f"molecules; channels with std < {DEAD} counted as dead.\n")
    rows = []
    for spec in specs:
        name, _, path = spec.rpartition("=")
        model = load_model(None if path == "shipped" else path).eval()
        training = model.meta.get("training", {})
        rows.append((name or path, training.get("steps", training.get("step", "-")), *channel_stats(model)))
    width = max(len(r[2]) for r in rows)
    print("| model | steps | dead | " + " | ".join(f"ch{c} gain / std" for c in range(width)) + " |")
    print("|---|---|---|" + "---|" * width)
    for name, steps, gain, std in rows:
        cells = [f"{g:+.3f} / {s:.3f}" for g, s in zip(gain, std)]
        print(f"| {name} | {steps} | {int((std < DEAD).sum())} of {len(std)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
