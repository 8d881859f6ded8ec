"""Model files of every domain: ``NAME.pt`` (a ``weights_only``-loadable state_dict) + ``NAME.json`` sidecar.

One format serves the molecule and the image models (:func:`unite_mol.generation.save_model`,
:func:`unite_mol.images.io.save_image_model` are thin wrappers that name their domain). The sidecar holds:

* ``format`` (``"unite_mol.model"``), ``format_version`` (:data:`FORMAT_VERSION`) and ``domain``
  (``"molecules"``, ``"images"``): a file of another domain is refused, naming both;
* ``ge_config`` and the adapter's config under the domain's key (``molecule_config``, ``image_config``),
  ``shared_weights``, ``vae``, ``storage_dtype``: what gives the weights their meaning;
* ``weights_sha256`` (of the ``.pt`` bytes) and ``config_sha256`` (of the entries above): a corrupt
  ``.pt`` or an edited configuration is refused on loading. Version 1 files (no hashes) load with a
  ``UserWarning``;
* provenance: package version, git commit, parameter count, and whatever the caller adds (``extra``).

Nothing here knows a domain: the caller passes the function that builds an empty model from the configs.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from unite_mol.core.model import GEConfig
from unite_mol.core.run_files import state_mismatch
from unite_mol.core.unite import UniteModel
from unite_mol.files import atomic_open
from unite_mol.runtime import git_commit

FORMAT_VERSION = 2
STORAGE_DTYPES = ("float32", "float16")
#: the adapter-config key of each domain's sidecar
ADAPTER_KEYS = {"molecules": "molecule_config", "images": "image_config"}
_NOUN = {"molecules": "molecule", "images": "image"}

#: builds an empty model of the domain from (GEConfig, adapter config dict, the whole sidecar)
Builder = Callable[[GEConfig, dict, dict], UniteModel]


def config_keys(domain: str) -> tuple[str, ...]:
    """The sidecar entries whose digest is ``config_sha256``."""
    return ("ge_config", ADAPTER_KEYS[domain], "shared_weights", "vae", "storage_dtype")


def config_digest(meta: dict[str, Any], domain: str = "molecules") -> str:
    """SHA-256 of the sidecar entries that give the weights their meaning (:func:`config_keys`)."""
    core = {k: meta.get(k) for k in config_keys(domain)}
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``(NAME.pt, NAME.json)`` for ``NAME``, ``NAME.pt`` or ``NAME.json``."""
    base = Path(path)
    if base.suffix in (".pt", ".json"):
        base = base.with_suffix("")
    return base.with_suffix(".pt"), base.with_suffix(".json")


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: Any) -> None:
    """Raise ValueError listing missing, unexpected and wrongly shaped keys."""
    problem = state_mismatch(model, state)
    if problem:
        raise ValueError(f"weights in {source} do not match the model configuration: {problem}")


def save_model_files(path: str | Path, model: UniteModel, *, domain: str, extra: dict[str, Any] | None = None,
                     storage_dtype: str = "float32") -> tuple[Path, Path]:
    """Write ``path.pt`` and ``path.json`` atomically; returns both paths.

    ``storage_dtype="float16"`` halves the file (floating-point weights are stored in half precision and
    cast back to float32 on loading); the sidecar records it.

    Raises:
        ValueError: for an unknown domain or a storage dtype other than float32 / float16.
    """
    from unite_mol import __version__

    if domain not in ADAPTER_KEYS:
        raise ValueError(f"unknown domain {domain!r}; choose from {sorted(ADAPTER_KEYS)}")
    if storage_dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage_dtype must be 'float32' or 'float16', got {storage_dtype!r}")
    pt, js = model_paths(path)
    cast = torch.float16 if storage_dtype == "float16" else torch.float32
    state = {k: (v.detach().cpu().to(cast) if v.is_floating_point() else v.detach().cpu()).contiguous()
             for k, v in model.state_dict().items()}
    meta = {
        "format": "unite_mol.model", "format_version": FORMAT_VERSION, "domain": domain,
        "package_version": __version__, "commit": git_commit(),
        "ge_config": model.config.to_dict(), ADAPTER_KEYS[domain]: model.adapter.config.to_dict(),
        "shared_weights": model.shared_weights, "vae": model.vae,
        "num_parameters": int(sum(p.numel() for p in model.parameters())), "storage_dtype": storage_dtype,
        **(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    meta["weights_sha256"] = hashlib.sha256(data).hexdigest()
    meta["config_sha256"] = config_digest(meta, domain)
    with atomic_open(pt) as fh:
        fh.write(data)
    with atomic_open(js, "w") as fh:
        fh.write(json.dumps(meta, indent=2, sort_keys=True))
    return pt, js


def read_sidecar(js: Path, domain: str = "molecules") -> dict[str, Any]:
    """The sidecar ``js`` as a dict, checked for shape (not yet against the weights).

    Raises:
        ValueError: naming ``js``, if it is not UTF-8 JSON, not an object, not a unite_mol model of
            ``domain``, of a newer format, or misses a required entry.
    """
    try:
        meta = json.loads(js.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{js} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{js} is not a unite_mol model sidecar: it holds a JSON {type(meta).__name__}, "
                         f"not an object")
    if meta.get("format") != "unite_mol.model" or meta.get("domain") != domain:
        raise ValueError(f"{js} is not a unite_mol {_NOUN[domain]} model sidecar (format={meta.get('format')!r}, "
                         f"domain={meta.get('domain')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{js}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{js} has format version {version}; this unite_mol reads up to {FORMAT_VERSION}")
    configs = ["ge_config", ADAPTER_KEYS[domain]]
    required = configs + (["weights_sha256", "config_sha256"] if version >= 2 else [])
    missing = [k for k in required if k not in meta]
    if missing:
        raise ValueError(f"{js} misses required entries {missing} (a format version {version} sidecar needs "
                         f"{required})")
    for k in configs:
        if not isinstance(meta[k], dict):
            raise ValueError(f"{js}: {k!r} must be a JSON object, got {type(meta[k]).__name__}")
    if meta.get("storage_dtype", "float32") not in STORAGE_DTYPES:
        raise ValueError(f"{js}: storage_dtype must be 'float32' or 'float16', got {meta.get('storage_dtype')!r}")
    return meta


def load_model_files(path: str | Path, *, domain: str, build: Builder, hint: str = "") -> UniteModel:
    """Load a model file of ``domain`` on the CPU in eval mode, every check passed (see the module docstring).

    Raises:
        FileNotFoundError: if ``path.pt`` or ``path.json`` is missing (``hint`` is added to the message).
        ValueError: naming the file, if the sidecar is not a unite_mol model of ``domain`` (not a JSON
            object, missing entries, bad configs), the weights' hash or the configuration's digest does not
            match, the file is corrupt, or the weights do not match the configuration (the mismatched keys
            are listed).
    """
    pt, js = model_paths(path)
    for f in (pt, js):
        if not f.is_file():
            raise FileNotFoundError(f"model file {f} {'is not a file' if f.exists() else 'not found'}{hint}")
    meta = read_sidecar(js, domain)
    data = pt.read_bytes()
    if meta["format_version"] >= 2:
        digest = hashlib.sha256(data).hexdigest()
        if digest != meta["weights_sha256"]:
            raise ValueError(f"{pt} is corrupt or not a state_dict saved with {js.name} (changed after saving?): "
                             f"its SHA-256 is {digest[:16]}..., the sidecar records "
                             f"{str(meta['weights_sha256'])[:16]}...")
    else:
        warnings.warn(f"{js}: format version 1 model file without content hashes; it cannot be checked for "
                      f"corruption. Re-save it to add them (molecules: python -m unite_mol export "
                      f"{pt.with_suffix('')} NEW).", UserWarning, stacklevel=3)
    # before building: an edited size (e.g. the GE's depth) would otherwise surface as a weights mismatch
    if meta["format_version"] >= 2 and config_digest(meta, domain) != meta["config_sha256"]:
        raise ValueError(f"{js} was edited after saving: its configuration ({', '.join(config_keys(domain))}: "
                         f"e.g. the GE's depth, the element list or the coordinate scale) no longer matches the "
                         f"digest recorded with the weights; restore the original sidecar")
    try:
        model = build(GEConfig.from_dict(meta["ge_config"]), meta[ADAPTER_KEYS[domain]], meta)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{js}: invalid model configuration: {exc}") from exc
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt files; keep its message
        raise ValueError(f"cannot read weights from {pt} (corrupt or not a state_dict): {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"cannot read weights from {pt} (corrupt or not a state_dict): not a dict of tensors")
    check_state_dict(model, state, source=pt)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.meta = meta
    return model.eval()
