"""Molecule models on disk: ``build_model``, ``save_model``, ``load_model``.

A saved model is two files side by side: ``NAME.pt``, a plain ``state_dict`` (loads with
``torch.load(weights_only=True)``), and ``NAME.json``, a readable sidecar with everything needed to
rebuild and sample it: the GE config, the molecule config (element vocabulary, coordinate scale,
atom-count histogram), the objective config, package version, git commit and data fingerprint. Loading
never needs the training data. Both files are written atomically, in the format of
:mod:`unite_mol.model_files` (domain ``"molecules"``), which the image models share.

The sidecar (format version 2) also holds ``weights_sha256``, the SHA-256 of the ``.pt`` bytes, and
``config_sha256``, the SHA-256 of the configuration that gives the weights their meaning (GE config,
molecule config with its element list and coordinate scale, weight sharing, storage dtype). Loading
checks both, so flipped bytes in the weights or an edited element list / coordinate scale in the sidecar
are refused, naming the file. Version 1 files (no hashes) still load, with a warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from unite_mol.core.model import GEConfig
from unite_mol.core.unite import UniteModel
from unite_mol.model_files import load_model_files, save_model_files
from unite_mol.molecular import MoleculeAdapter, MoleculeConfig
from unite_mol.runtime import pick_device

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = PRETRAINED_DIR / "unite-qm9"
#: the shipped model's sampling guide: the first shipped model (64 CPU-minutes of the same lineage; its
#: tokenizer gives the shipped model's latents to a relative MSE of 7e-4), used by ``guide="auto"`` (opt-in)
DEFAULT_GUIDE = PRETRAINED_DIR / "unite-qm9-guide"


def build_model(ge_config: GEConfig, mol_config: MoleculeConfig, *, shared_weights: bool = True,
                vae: bool = False) -> UniteModel:
    """A fresh molecule model: UNITE (default), its separate-weights ablation, or the two-stage VAE baseline."""
    adapter = MoleculeAdapter(mol_config, ge_config.width, ge_config.decoder_width,
                              pair_features=ge_config.pair_features, cond_features=ge_config.cond_features,
                              slot_features=ge_config.slot_features)
    return UniteModel(adapter, ge_config, shared_weights=shared_weights, vae=vae)


def save_model(path: str | Path, model: UniteModel, *, extra: dict[str, Any] | None = None,
               storage_dtype: str = "float32") -> tuple[Path, Path]:
    """Write ``path.pt`` (state_dict) and ``path.json`` (sidecar with content hashes) atomically; returns both paths.

    The format is :mod:`unite_mol.model_files`' (domain ``"molecules"``). ``storage_dtype="float16"``
    halves the file (floating-point weights are stored in half precision and cast back to float32 on
    loading); the sidecar records it.

    Raises:
        ValueError: for a storage dtype other than float32 / float16.
    """
    return save_model_files(path, model, domain="molecules", extra=extra, storage_dtype=storage_dtype)


def build_from_sidecar(ge_config: GEConfig, molecule_config: dict, meta: dict) -> UniteModel:
    return build_model(ge_config, MoleculeConfig.from_dict(molecule_config),
                       shared_weights=bool(meta.get("shared_weights", True)), vae=bool(meta.get("vae", False)))


def load_model(path: str | Path | None = None, *, device: str | torch.device = "cpu") -> UniteModel:
    """Load a saved molecule model (default: the shipped pretrained QM9 model) in eval mode.

    The weights are checked against the SHA-256 in the sidecar and the sidecar's configuration against
    its own recorded digest, so a corrupted ``.pt`` or an edited element list / coordinate scale is
    refused. A format version 1 file (no hashes) loads with a ``UserWarning``.

    Raises:
        FileNotFoundError: if ``path.pt`` or ``path.json`` is missing.
        ValueError: naming the file, if the sidecar is not a unite_mol molecule model (not a JSON object,
            missing entries, bad configs), the weights' hash or the configuration's digest does not
            match, the file is corrupt, or the weights do not match the configuration (the mismatched keys
            are listed); also for a device this machine does not have.
    """
    dev = pick_device(device)
    hint = " (the shipped model is missing from this installation)" if path is None else ""
    model = load_model_files(DEFAULT_MODEL if path is None else path, domain="molecules",
                             build=build_from_sidecar, hint=hint)
    return model.to(dev)


def shipped_sha256() -> str | None:
    """The SHA-256 of the shipped model's weights, from its sidecar (``None`` when it is missing)."""
    try:
        return json.loads(DEFAULT_MODEL.with_suffix(".json").read_text()).get("weights_sha256")
    except (OSError, ValueError):
        return None
