"""Reconstruction of QM9 test molecules in their stored frame and in their canonical (principal-axes) frame.

Usage: python benchmarks/qm9/canonical-frame/recon_frames.py NAME=MODEL ...   (500 molecules, seed 0)
"""
import sys

import numpy as np
import torch

from unite_mol.data import canonical_frame, collate_arrays, qm9
from unite_mol.generation import load_model
from unite_mol.metrics import reconstruction

test = qm9("test")
batch = collate_arrays(test.numbers, test.positions, test.offsets, np.arange(500))
for spec in sys.argv[1:]:
    name, path = spec.split("=", 1)
    model = load_model(path).eval()
    row = [name]
    for frame, b in (("stored", batch), ("canonical", canonical_frame(batch))):
        with torch.no_grad():
            z, mask = model.encode(b, generator=torch.Generator().manual_seed(0))
            out = model.adapter.to_arrays(model.decode(z, mask), mask)
        m = reconstruction(b.molecules(), out).metrics
        row.append(f"{frame}: match {100 * m['match_adit']:.1f} %, RMSD {m['rmsd']:.4f} A")
    print(" | ".join(row))
