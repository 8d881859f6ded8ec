"""Molecule models on disk, and generation: ``load_model``, ``save_model``, ``generate``.

A saved model is two files side by side: ``NAME.pt``, a plain ``state_dict`` (loads with
``torch.load(weights_only=True)``), and ``NAME.json``, a readable sidecar with everything needed to
rebuild and sample it: the GE config, the molecule config (element vocabulary, coordinate scale,
atom-count histogram), the objective config, package version, git commit and data fingerprint. Loading
never needs the training data. Both files are written atomically.

Generation draws, for sample ``i``, its atom count and its latent noise from a generator seeded by
``(seed, i)`` only, so the same seed gives the same molecules whatever the batch size; then it integrates
the latent flow (Heun or Euler), decodes elements and coordinates, and perceives bonds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from unite_mol.core.model import GEConfig
from unite_mol.core.samplers import sample
from unite_mol.core.unite import UniteModel
from unite_mol.files import atomic_open
from unite_mol.molecular import MoleculeAdapter, MoleculeConfig
from unite_mol.molecule import Molecule

FORMAT_VERSION = 1
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = PRETRAINED_DIR / "unite-qm9"


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: cuda, then mps, then cpu."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def build_model(ge_config: GEConfig, mol_config: MoleculeConfig, *, shared_weights: bool = True,
                vae: bool = False) -> UniteModel:
    """A fresh molecule model: UNITE (default), its separate-weights ablation, or the two-stage VAE baseline."""
    adapter = MoleculeAdapter(mol_config, ge_config.width, ge_config.decoder_width)
    return UniteModel(adapter, ge_config, shared_weights=shared_weights, vae=vae)


def git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def save_model(path: str | Path, model: UniteModel, *, extra: dict[str, Any] | None = None,
               storage_dtype: str = "float32") -> tuple[Path, Path]:
    """Write ``path.pt`` (state_dict) and ``path.json`` (sidecar) atomically; returns both paths.

    ``storage_dtype="float16"`` halves the file (floating-point weights are stored in half precision and
    cast back to float32 on loading); the sidecar records it.

    Raises:
        ValueError: for a storage dtype other than float32 / float16.
    """
    from unite_mol import __version__

    if storage_dtype not in ("float32", "float16"):
        raise ValueError(f"storage_dtype must be 'float32' or 'float16', got {storage_dtype!r}")
    base = Path(path)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    pt, js = base.with_suffix(".pt"), base.with_suffix(".json")
    cast = torch.float16 if storage_dtype == "float16" else torch.float32
    state = {k: (v.detach().cpu().to(cast) if v.is_floating_point() else v.detach().cpu()).contiguous()
             for k, v in model.state_dict().items()}
    meta = {
        "format": "unite_mol.model", "format_version": FORMAT_VERSION, "domain": "molecules",
        "package_version": __version__, "commit": git_commit(),
        "ge_config": model.config.to_dict(), "molecule_config": model.adapter.config.to_dict(),
        "shared_weights": model.shared_weights, "vae": model.vae,
        "num_parameters": int(sum(p.numel() for p in model.parameters())), "storage_dtype": storage_dtype,
        **(extra or {}),
    }
    with atomic_open(pt) as fh:
        torch.save(state, fh)
    with atomic_open(js, "w") as fh:
        fh.write(json.dumps(meta, indent=2, sort_keys=True))
    return pt, js


def load_model(path: str | Path | None = None, *, device: str | torch.device = "cpu") -> UniteModel:
    """Load a saved molecule model (default: the shipped pretrained QM9 model) in eval mode.

    Raises:
        FileNotFoundError: if ``path.pt`` or ``path.json`` is missing.
        ValueError: if the sidecar is not a unite_mol molecule model, the file is corrupt, or the weights
            do not match the configuration (the mismatched keys are listed).
    """
    base = Path(path) if path is not None else DEFAULT_MODEL
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    pt, js = base.with_suffix(".pt"), base.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            hint = " (the shipped model is missing from this installation)" if path is None else ""
            raise FileNotFoundError(f"model file {f} not found{hint}")
    try:
        meta = json.loads(js.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{js} is not valid JSON: {exc}") from exc
    if meta.get("format") != "unite_mol.model" or meta.get("domain") != "molecules":
        raise ValueError(f"{js} is not a unite_mol molecule model sidecar (format={meta.get('format')!r}, "
                         f"domain={meta.get('domain')!r})")
    if int(meta.get("format_version", -1)) > FORMAT_VERSION:
        raise ValueError(f"{js} has format version {meta['format_version']}; this unite_mol reads up to {FORMAT_VERSION}")
    model = build_model(GEConfig.from_dict(meta["ge_config"]), MoleculeConfig.from_dict(meta["molecule_config"]),
                        shared_weights=bool(meta.get("shared_weights", True)), vae=bool(meta.get("vae", False)))
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt files; keep its message
        raise ValueError(f"cannot read weights from {pt} (corrupt or not a state_dict): {exc}") from exc
    check_state_dict(model, state, source=pt)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state)
    model.meta = meta
    return model.to(device).eval()


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: Any) -> None:
    """Raise ValueError listing missing, unexpected and wrongly shaped keys."""
    from unite_mol.core.trainer import state_mismatch

    problem = state_mismatch(model, state)
    if problem:
        raise ValueError(f"weights in {source} do not match the model configuration: {problem}")


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The generator of sample ``index`` under ``seed`` (independent of batch size and device count)."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def draw_num_atoms(hist: Sequence[int], generator: torch.Generator) -> int:
    probs = torch.tensor(hist, dtype=torch.float64)
    if probs.sum() <= 0:
        raise ValueError("the model has no atom-count histogram; pass num_atoms")
    return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))


@torch.no_grad()
def generate_arrays(model: UniteModel, n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None,
                    steps: int = 25, method: str = "heun", batch_size: int = 256, time_shift: float = 1.0,
                    precision: str = "auto") -> list[tuple[np.ndarray, np.ndarray]]:
    """Raw samples: a list of (atomic numbers, positions) without bond perception."""
    return [(z, x) for z, x, _ in generate_samples(model, n, seed=seed, num_atoms=num_atoms, steps=steps,
                                                   method=method, batch_size=batch_size, time_shift=time_shift,
                                                   precision=precision)]


@torch.no_grad()
def generate_samples(model: UniteModel, n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None,
                     steps: int = 25, method: str = "heun", batch_size: int = 256, time_shift: float = 1.0,
                     precision: str = "auto") -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Raw samples: (atomic numbers, positions, predicted bond rows or ``None`` without a bond head).

    ``precision``: ``"bf16"`` runs the ODE's denoiser passes under bfloat16 autocast (the decoder always
    runs in float32, so coordinates keep full precision); ``"auto"`` does so on CUDA and on CPUs with
    native bf16; ``"fp32"`` never.
    """
    from unite_mol.core.trainer import use_bf16

    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    cfg: MoleculeConfig = model.adapter.config
    d = model.config.latent_dim
    device = next(model.parameters()).device
    if isinstance(num_atoms, (int, np.integer)):
        counts_given: list[int] | None = [int(num_atoms)] * n
    elif num_atoms is not None:
        counts_given = [int(k) for k in num_atoms]
        if len(counts_given) != n:
            raise ValueError(f"num_atoms has {len(counts_given)} entries for n={n} samples")
    else:
        counts_given = None
    counts, noises = [], []
    for i in range(n):
        g = sample_generator(seed, i)
        k = counts_given[i] if counts_given is not None else draw_num_atoms(cfg.atom_count_hist, g)
        if not 1 <= k <= cfg.max_atoms:
            raise ValueError(f"sample {i}: {k} atoms requested; this model supports 1..{cfg.max_atoms}")
        counts.append(k)
        noises.append(torch.randn(k, d, generator=g))
    order = np.argsort(counts, kind="stable")     # similar sizes together: less padding
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray | None] | None] = [None] * n
    for s in range(0, n, batch_size):
        idx = order[s: s + batch_size]
        width = max(counts[i] for i in idx)
        z = torch.zeros(len(idx), width, d)
        mask = torch.zeros(len(idx), width, dtype=torch.bool)
        for r, i in enumerate(idx):
            z[r, : counts[i]] = noises[i]
            mask[r, : counts[i]] = True
        z, mask = z.to(device), mask.to(device)
        amp = precision == "bf16" or (precision == "auto" and use_bf16("auto", device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            z1 = sample(lambda zt, t: model.denoise(zt, t, mask), z, steps=steps, method=method, shift=time_shift)
        z1 = z1.float()
        dec = model.decode(z1, mask)
        decoded = model.adapter.to_arrays(dec, mask)
        bonds = model.adapter.to_bonds(dec, mask) or [None] * len(idx)
        for r, i in enumerate(idx):
            out[i] = (*decoded[r], bonds[r])
    return out  # type: ignore[return-value]


def generate(n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None, steps: int = 25,
             method: str = "heun", model: UniteModel | str | Path | None = None, batch_size: int = 256,
             bonds: str | None = "auto", device: str | torch.device = "cpu",
             precision: str = "auto", relax: bool = False) -> list[Molecule]:
    """Generate ``n`` molecules.

    Args:
        n: how many molecules.
        seed: sample ``i`` depends on ``(seed, i)`` only.
        num_atoms: atoms per molecule (an int or one per sample); default: drawn from the training data's
            atom-count histogram.
        steps, method: ODE solver steps and ``"heun"`` or ``"euler"`` (25 Heun steps scored like 50 and
            100 on the shipped model; see its card).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` for the denoiser passes (see :func:`generate_arrays`).
        model: a loaded model, a path to one, or ``None`` for the shipped pretrained QM9 model.
        bonds: ``"model"`` (the bond orders the model's bond head predicts), a perception method applied
            to the generated 3D coordinates (``"openbabel"``, ``"rdkit"``, ``"edm"``), ``"auto"`` (the
            model's own bonds when it has a bond head, else Open Babel) or ``None`` for atoms only.
            ``properties["bonds_from"]`` records which.
        relax: relax each molecule with RDKit's MMFF94 on its bonds (:func:`unite_mol.relax.relax`); the
            outcome is in the ``relax_*`` properties (energy change, RMSD moved, reason when it failed). Off by default: benchmark numbers are always of the raw samples.
        device: where to run (``"auto"`` picks cuda, then mps, then cpu).

    Returns:
        ``Molecule`` objects (convert with ``.to_rdkit()`` / ``.to_ase()``); each carries
        ``properties["seed"]`` and ``properties["sample_index"]``.

    Raises:
        ValueError: for ``n < 0``, an atom count the model does not support, or a bad model file.
    """
    from unite_mol.bonds import METHODS

    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if bonds not in (None, "auto", "model", *METHODS):
        raise ValueError(f"unknown bonds {bonds!r}; choose 'auto', 'model', {', '.join(map(repr, METHODS))} or None")
    if relax and bonds is None:
        raise ValueError("relax=True needs bonds; pass bonds='auto' (or a perception method)")
    dev = pick_device(device)
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, device=dev)
    else:
        model = model.to(dev).eval()
    has_head = model.adapter.config.bond_head
    if bonds == "model" and not has_head:
        raise ValueError("bonds='model' needs a model with a bond head; this one has none (use 'auto' or a "
                         "perception method such as 'openbabel')")
    if bonds == "auto":
        bonds = "model" if has_head else "openbabel"
    samples = generate_samples(model, n, seed=seed, num_atoms=num_atoms, steps=steps, method=method,
                               batch_size=batch_size, precision=precision)
    mols = []
    for i, (z, x, predicted) in enumerate(samples):
        props = {"seed": seed, "sample_index": i, "name": f"unite_mol_{seed}_{i}"}
        if bonds == "model":
            m = Molecule(z, x, bonds=predicted, properties={**props, "bonds_from": "model"})
        else:
            m = Molecule(z, x, properties=props)
            if bonds is not None:
                m = m.with_bonds(bonds)
                m = m.replace(properties={**m.properties, "bonds_from": bonds})
        mols.append(m)
    if relax:
        from unite_mol.relax import relax as relax_molecules

        mols = relax_molecules(mols)
    return mols
