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


def conditioned_model(ge_input: str, *, silent: bool = False, seed: int = 0):
    """A GE-T self-conditioning model whose denoiser is told the composition (``ge_input="cond_features"``,
    its input ``cond_in``) or each atom's element (``"slot_features"``, ``slot_in``), with the data's
    compositions (first 2,000 training molecules) in its config; adaLN weights trained-like, the new input
    random unless ``silent`` (then zero, as initialised)."""
    tr = qm9("train")
    k = 2000
    cfg = tiny_mol_config()
    table = MoleculeConfig.composition_table(tr.numbers[: tr.offsets[k]], tr.offsets[: k + 1], cfg.elements)
    cfg = MoleculeConfig.from_dict({**cfg.to_dict(), "composition_hist": table})
    torch.manual_seed(seed)
    model = build_model(preset("GE-T", self_cond=True, **{ge_input: len(cfg.elements)}), cfg)
    door = {"cond_features": ".cond_in.", "slot_features": ".slot_in."}[ge_input]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ada." in name or (door in name and not silent):
                p.normal_(0, 0.05 if ".ada." in name else 0.3)
    return model.eval()


def qm9_batch(rows=range(8), split: str = "test"):
    s = qm9(split)
    return collate_arrays(s.numbers, s.positions, s.offsets, np.asarray(list(rows)))


def embedded(smiles: str, seed: int = 0):
    """An RDKit molecule with hydrogens and one ETKDG conformer (seeded): GEOM-style fixtures."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    assert AllChem.EmbedMolecule(mol, params) == 0
    return mol


def have_moses() -> bool:
    """Whether the MOSES SMILES (the ``molsets`` package) are installed."""
    from unite_mol.data import druglike as dl

    try:
        dl.source_path()
        return True
    except FileNotFoundError:
        return False
