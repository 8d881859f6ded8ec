"""Does the flow loss shape the clean latent through the latent LayerNorm (issue 26, "the two dead latent
channels")? Both of the GE's passes end in that norm, so with the stop-gradient on the clean latent the flow's
gradient still reaches its gain and bias. For the shipped model: the gain and bias per channel, and the
gradient of the flow loss and of the reconstruction loss on them (mean over 4 batches of 64 QM9 training
molecules, 2 flow copies, seeds 0-3), as a markdown table on stdout.

    .venv/bin/python benchmarks/qm9/recipe/latent_norm_grads.py > benchmarks/qm9/recipe/latent_norm_grads.md
"""
import numpy as np
import torch

from unite_mol import load_model
from unite_mol.core import UniteConfig, unite_terms
from unite_mol.data import collate_arrays, qm9
from unite_mol.data.bond_labels import qm9_bond_labels

BATCHES, SIZE = 4, 64


def main() -> None:
    torch.manual_seed(0)
    model = load_model().train()
    ln = model.ge.latent_norm
    split, labels = qm9("train"), qm9_bond_labels("train")
    acc = {k: torch.zeros(2, ln.weight.numel()) for k in ("flow", "recon")}
    rng = np.random.default_rng(0)
    for i in range(BATCHES):
        batch = collate_arrays(split.numbers, split.positions, split.offsets,
                               rng.choice(len(split), SIZE, replace=False), bond_labels=labels)
        terms = unite_terms(model, batch, torch.Generator().manual_seed(i), UniteConfig(flow_copies=2))
        for k in acc:
            g = torch.autograd.grad(terms[k], [ln.weight, ln.bias], retain_graph=True, allow_unused=True)
            acc[k] += torch.stack([torch.zeros_like(ln.weight) if x is None else x for x in g]) / BATCHES
    gain, bias = ln.weight.detach(), ln.bias.detach()
    print("| channel | gain | bias | flow dL/dgain | recon dL/dgain | flow dL/dbias | recon dL/dbias |")
    print("|---|---|---|---|---|---|---|")
    for c in range(len(gain)):
        print(f"| {c} | {gain[c]:.4f} | {bias[c]:.4f} | {acc['flow'][0, c]:+.4f} | {acc['recon'][0, c]:+.4f} | "
              f"{acc['flow'][1, c]:+.4f} | {acc['recon'][1, c]:+.4f} |")


if __name__ == "__main__":
    main()
