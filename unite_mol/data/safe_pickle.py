"""Unpickling GEOM-style files through an allow-list (RDKit ``Mol``, NumPy scalars and arrays, plain
containers): a pickle that names any other global is refused with that global's name. ``trusted=True``
lifts the allow-list for files whose origin the user trusts (unpickling can run arbitrary code)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

#: globals a GEOM or split pickle may name when ``trusted=False``
_ALLOWED_GLOBALS = {
    ("rdkit.Chem.rdchem", "Mol"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    ("collections", "OrderedDict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "slice"),
}


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused to unpickle global {module}.{name}: GEOM files hold only RDKit molecules, numbers and "
                "containers. If you trust where this file came from, pass trusted=True")
        return super().find_class(module, name)


def read_pickle(path: str | Path, *, trusted: bool = False) -> Any:
    """Unpickle ``path`` through the allow-list (see the module docstring), or plainly if ``trusted``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is not a pickle or names a global outside the allow-list.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        if trusted:
            return pickle.loads(data)
        return _AllowListUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable GEOM pickle: {exc}") from exc
