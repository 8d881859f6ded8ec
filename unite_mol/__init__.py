"""unite_mol: 3D molecule generation with UNITE, one Generative Encoder that tokenizes and denoises.

The public API is small and flat::

    from unite_mol import Molecule, generate, load_model, evaluate

Heavy dependencies (torch, RDKit, Open Babel) are imported only by the functions that need them, and
nothing happens at import time.
"""

from __future__ import annotations

from typing import Any

from unite_mol.molecule import Molecule

__version__ = "0.1.0"

__all__ = ["Molecule", "generate", "load_model", "evaluate", "table", "__version__"]

_LAZY = {
    "generate": ("unite_mol.generation", "generate"),
    "load_model": ("unite_mol.generation", "load_model"),
    "evaluate": ("unite_mol.metrics", "evaluate"),
    "table": ("unite_mol.molecule", "table"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'unite_mol' has no attribute {name!r}")
