"""The parameters behind the reading of the image ablation (issue 30): for each arm's EMA model, the RMS of the
latent slots' learned positions (``adapter.latent_pos``, initialised at 0.02 per entry) and of the tokenizer's
latent LayerNorm gain and bias; the arm's final reconstruction PSNR from its ``eval.jsonl``. Then, at
initialisation (seed 0, 64 Fashion-MNIST training images, IM-T, learned slot positions), the norm of the
gradient that the reconstruction and the flow loss each put on the slot positions.

    .venv/bin/python benchmarks/images/ablation/slot_positions.py unite=runs/img-abl-unite tok-only=... > slot_positions.md
"""

import sys
from pathlib import Path

import torch

from unite_mol.images.curves import read_curve
from unite_mol.images.io import load_image_model


def rms(t: torch.Tensor | None) -> str:
    return "-" if t is None else f"{float(t.detach().float().pow(2).mean().sqrt()):.3f}"


def main(args: list[str]) -> None:
    print("| arm | slot positions | `latent_pos` RMS | latent gain RMS | latent bias RMS | PSNR dB at the end |")
    print("|---|---|---|---|---|---|")
    for arg in args:
        name, run = arg.split("=", 1)
        model = load_image_model(Path(run) / "model")
        norm = model.ge.latent_norm                                          # no weight / bias with a fixed norm
        print(f"| {name} | {model.adapter.config.slot_pos} | {rms(model.adapter.latent_pos)} | "
              f"{rms(norm.weight)} | {rms(norm.bias)} | {read_curve(run)[-1]['val_psnr']:.1f} |")


def gradients_at_init() -> None:
    from unite_mol.core.unite import UniteConfig, unite_terms
    from unite_mol.images.adapter import build_image_model
    from unite_mol.images.data import ImageBatches, fashion_mnist, to_tensor

    x, y = fashion_mnist("train")
    batch = ImageBatches(to_tensor(x[:64]), torch.from_numpy(y[:64]).long(), 64, seed=0, epoch=0)[0]
    print("\n| at initialisation | grad norm on `latent_pos` from reconstruction | from the flow loss |\n|---|---|---|")
    for shared in (True, False):
        torch.manual_seed(0)
        model = build_image_model("IM-T", slot_pos="learned", shared_weights=shared)
        norms = []
        for part in ("recon", "flow"):
            model.zero_grad()
            unite_terms(model, batch, torch.Generator().manual_seed(1), UniteConfig(shared_weights=shared))[part].backward()
            norms.append(float(model.adapter.latent_pos.grad.norm()))
        print(f"| {'UNITE' if shared else 'separate weights'} | {norms[0]:.3f} | {norms[1]:.3f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:])
    gradients_at_init()
