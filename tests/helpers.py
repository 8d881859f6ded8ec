"""Small shared fixtures for the tests: a tiny molecule model and a few QM9 batches."""

from __future__ import annotations

import numpy as np
import torch

from unite_mol.core import preset
from unite_mol.data import collate_arrays, qm9
from unite_mol.generation import build_model
from unite_mol.molecular import MoleculeConfig


def tiny_mol_config(**overrides) -> MoleculeConfig:
    tr = qm9("train")
    k = 2000  # statistics of the first molecules are enough for tests
    end = tr.offsets[k]
    return MoleculeConfig.from_data(tr.numbers[:end], tr.positions[:end], tr.offsets[: k + 1], **overrides)


def tiny_model(*, seed: int = 0, shared_weights: bool = True, vae: bool = False, trained_like: bool = True,
               **ge_overrides):
    """A GE-T molecule model. ``trained_like`` gives the adaLN-zero layers small random weights, as after
    some training; at their zero initialisation every block is the identity and passes no gradient to
    its attention and MLP weights, which would make gradient tests vacuous."""
    torch.manual_seed(seed)
    cfg = preset("GE-T", **ge_overrides)
    model = build_model(cfg, tiny_mol_config(), shared_weights=shared_weights, vae=vae)
    if trained_like:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ".ada." in name:
                    p.normal_(0, 0.05)
    return model


def qm9_batch(rows=range(8), split: str = "test"):
    s = qm9(split)
    return collate_arrays(s.numbers, s.positions, s.offsets, np.asarray(list(rows)))
