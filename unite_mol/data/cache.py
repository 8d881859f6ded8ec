"""The processed-data cache: a user cache directory, overridable, with atomic writes.

The directory is ``$UNITE_MOL_CACHE`` when set, else ``$XDG_CACHE_HOME/unite_mol``, else
``~/.cache/unite_mol``. Entries are keyed by a fingerprint of everything that determines their content,
so changing a setting never reuses a stale file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from unite_mol.files import atomic_open


def cache_dir() -> Path:
    """The unite_mol cache directory (created on demand)."""
    env = os.environ.get("UNITE_MOL_CACHE")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "unite_mol"
    root.mkdir(parents=True, exist_ok=True)
    return root


def fingerprint(settings: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable settings mapping."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` so that readers never see a partial file (temp file + ``os.replace``)."""
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)
