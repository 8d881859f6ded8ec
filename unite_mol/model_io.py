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

Training continues from saved models through :func:`init_from_saved` (new modules start fresh, ``grow_depth``
appends identity blocks) and checks a model's held-out reconstruction with :func:`reconstruction_summary`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unite_mol.core.model import GEConfig, preset
from unite_mol.core.unite import UniteModel
from unite_mol.data.batching import MolBatch
from unite_mol.model_files import load_model_files, save_model_files
from unite_mol.molecular import MoleculeAdapter, MoleculeConfig
from unite_mol.runtime import pick_device

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = PRETRAINED_DIR / "unite-qm9"
#: the shipped model's sampling guide: the first shipped model (64 CPU-minutes of the same lineage; its
#: tokenizer gives the shipped model's latents to a relative MSE of 7e-4), used by ``guide="auto"`` (opt-in)
DEFAULT_GUIDE = PRETRAINED_DIR / "unite-qm9-guide"
#: models chosen by name (``load_model("druglike")``, ``generate(model="druglike")``): the files each name loads
NAMED_MODELS = {"qm9": DEFAULT_MODEL, "druglike": PRETRAINED_DIR / "unite-druglike"}
#: how to make a named model that this installation lacks (the drug-like model is not shipped yet)
NAMED_MODEL_HINTS = {
    "qm9": "the shipped model is missing from this installation",
    "druglike": "no drug-like model is shipped yet; train one with `python -m unite_mol.train --dataset druglike "
                "--run-dir runs/druglike --bond-head ...` and pass its path (runs/druglike/model), or export it "
                "there with `python -m unite_mol export runs/druglike/model {path}`",
}


def resolve_model(model: str | Path | None) -> tuple[Path, str]:
    """``(path, hint)``: the files a model name (:data:`NAMED_MODELS`; ``None`` is ``"qm9"``) or path stands for,
    and what to say if they are missing. A name wins over a file of the same name in the working directory
    (write ``./qm9`` for that file)."""
    name = "qm9" if model is None else model
    if isinstance(name, str) and name in NAMED_MODELS:
        path = NAMED_MODELS[name]
        return path, f" ({NAMED_MODEL_HINTS[name].format(path=path)})"
    return Path(model), ""


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
    """Load a saved molecule model in eval mode: a path (``NAME.pt`` + ``NAME.json``), a name of
    :data:`NAMED_MODELS` (``"qm9"``, the shipped model, also loaded by ``None``; ``"druglike"``, not shipped yet).

    The weights are checked against the SHA-256 in the sidecar and the sidecar's configuration against
    its own recorded digest, so a corrupted ``.pt`` or an edited element list / coordinate scale is
    refused. A format version 1 file (no hashes) loads with a ``UserWarning``.

    Raises:
        FileNotFoundError: if ``path.pt`` or ``path.json`` is missing (for a named model, with how to get it).
        ValueError: naming the file, if the sidecar is not a unite_mol molecule model (not a JSON object,
            missing entries, bad configs), the weights' hash or the configuration's digest does not
            match, the file is corrupt, or the weights do not match the configuration (the mismatched keys
            are listed); also for a device this machine does not have.
    """
    dev = pick_device(device)
    resolved, hint = resolve_model(path)
    model = load_model_files(resolved, domain="molecules", build=build_from_sidecar, hint=hint)
    return model.to(dev)


def shipped_sha256() -> str | None:
    """The SHA-256 of the shipped model's weights, from its sidecar (``None`` when it is missing)."""
    try:
        return json.loads(DEFAULT_MODEL.with_suffix(".json").read_text()).get("weights_sha256")
    except (OSError, ValueError):
        return None


#: parameter-name prefixes of modules that can be added to a saved model (they start fresh in --init-from
#: and can learn at their own LR): the decoder stage, and the GE's extra inputs (self-conditioning, pair bias,
#: composition and per-atom element conditions)
REFINER_PREFIXES = ("adapter.refiner.",)
GE_INPUT_PREFIXES = tuple(f"{ge}.{name}." for ge in ("ge", "ge_denoise")
                          for name in ("sc_in", "pair_bias", "cond_in", "slot_in"))


def grown_block_prefixes(depth: int, grow: int) -> tuple[str, ...]:
    """Parameter-name prefixes of ``grow`` GE blocks appended to a GE of ``depth`` blocks (both GEs)."""
    return tuple(f"{ge}.blocks.{i}." for ge in ("ge", "ge_denoise") for i in range(depth, depth + grow))


@torch.no_grad()
def reconstruction_summary(model: UniteModel, batch: MolBatch, *, seed: int = 0) -> dict[str, float]:
    """Element accuracy, per-molecule exact-element rate and aligned coordinate RMSD on a held-out batch."""
    from unite_mol.geometry import kabsch_rmsd

    was_training = model.training
    model.eval()
    z, mask = model.encode(batch, generator=torch.Generator(device=batch.mask.device).manual_seed(seed))
    decoded = model.adapter.to_arrays(model.decode(z, mask), mask)
    model.train(was_training)
    acc, exact, rmsd = [], [], []
    for (zs, xs), ref in zip(decoded, batch.molecules()):
        same = zs == ref.numbers
        acc.append(same.mean())
        exact.append(bool(same.all()))
        rmsd.append(kabsch_rmsd(xs, ref.positions))
    return {"val_elem_acc": float(np.mean(acc)), "val_exact_elements": float(np.mean(exact)),
            "val_rmsd_median_A": float(np.median(rmsd)), "val_rmsd_mean_A": float(np.mean(rmsd)),
            "val_rmsd_lt_0.1A": float(np.mean(np.array(rmsd) < 0.1))}


def init_from_saved(path: str | Path, decoder_stage: dict[str, Any], *, shared_weights: bool = True,
                    ge_inputs: dict[str, Any] | None = None, grow_depth: int = 0) -> tuple[UniteModel, dict[str, Any]]:
    """A model built from a saved model's configs (with ``decoder_stage`` settings and the GE's extra
    inputs ``ge_inputs``, e.g. ``self_cond``, applied) and its weights.

    Modules the saved model lacks (a refiner or bond head, a self-conditioning input or pair-bias layers
    added now; the GE's start silent) keep their fresh initialisation;
    every other weight must be present with the same shape. ``grow_depth`` appends that many blocks to
    the GE (and to a separate denoiser GE); they start as the identity (adaLN-zero), so the grown model
    computes exactly what the saved one did until training moves them. Returns the model and a provenance
    record (path, SHA-256 of the weights, the step it was trained to, the modules that started fresh, the
    depth grown).

    Raises:
        ValueError: if the saved model uses other objective weights sharing, or its weights do not fit.
    """
    import hashlib

    saved = load_model(path)
    if saved.shared_weights != shared_weights:
        raise ValueError(f"{path} was trained with shared_weights={saved.shared_weights}; cannot continue it "
                         f"with shared_weights={shared_weights}")
    mol_cfg = MoleculeConfig.from_dict({**saved.adapter.config.to_dict(), **decoder_stage})
    depth = saved.config.depth
    ge_cfg = GEConfig.from_dict({**saved.config.to_dict(), **(ge_inputs or {}), "depth": depth + grow_depth})
    if ge_cfg.pair_features and grow_depth:
        raise ValueError("grow_depth with pair features is not supported (each block has its own pair bias)")
    model = build_model(ge_cfg, mol_cfg, shared_weights=shared_weights)
    missing, unexpected = model.load_state_dict(saved.state_dict(), strict=False)
    grown = grown_block_prefixes(depth, grow_depth)
    fresh = sorted({".".join(k.split(".")[:3]) if k.startswith(grown) else k.split(".")[1] for k in missing})
    if unexpected or any(not k.startswith(REFINER_PREFIXES + GE_INPUT_PREFIXES + grown) for k in missing):
        raise ValueError(f"weights of {path} do not fit the model being trained: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    base = resolve_model(path)[0]
    pt = base if base.suffix == ".pt" else base.with_suffix(".pt")
    info = {"path": str(path), "sha256": hashlib.sha256(pt.read_bytes()).hexdigest(),
            "step": saved.meta.get("training", {}).get("step"), "fresh_modules": fresh}
    if grow_depth:
        info["grow_depth"] = {"from": depth, "to": depth + grow_depth}
    return model, info


def model_inputs(cfg: Any, data) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(decoder_stage, ge_inputs)``: the MoleculeConfig settings and the GE's extra inputs ``cfg`` asks for
    (the composition table and element count read from the training ``data``)."""
    decoder_stage = dict(refine_layers=cfg.refine_layers, refine_width=cfg.refine_width, bond_head=cfg.bond_head,
                         local_weight=cfg.local_weight)
    cond_features = slot_features = 0
    if cfg.composition_cond or cfg.element_cond:   # the denoiser's conditions: element counts / each atom's
        elements = tuple(int(z) for z in np.unique(data.numbers))   # element, drawn from this table when sampling
        decoder_stage["composition_hist"] = MoleculeConfig.composition_table(data.numbers, data.offsets, elements)
        cond_features = len(elements) if cfg.composition_cond else 0
        slot_features = len(elements) if cfg.element_cond else 0
    ge_inputs = {k: v for k, v in dict(self_cond=cfg.self_cond, pair_features=cfg.pair_features,
                                        cond_features=cond_features, slot_features=slot_features).items() if v}
    return decoder_stage, ge_inputs


def model_configs(cfg: Any, data) -> tuple[GEConfig, MoleculeConfig]:
    """The configs of a model trained from scratch (no ``init_from``) on the training ``data``."""
    decoder_stage, ge_inputs = model_inputs(cfg, data)
    overrides: dict[str, Any] = {} if cfg.latent_dim is None else {"latent_dim": cfg.latent_dim}
    if cfg.fixed_latent_norm:
        overrides["latent_affine"] = False
    ge_cfg = preset(cfg.preset, **overrides, **ge_inputs)
    mol_cfg = MoleculeConfig.from_data(data.numbers, data.positions, data.offsets,
                                       use_descriptors=cfg.use_descriptors, **decoder_stage)
    return ge_cfg, mol_cfg
