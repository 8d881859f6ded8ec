"""The adapter protocol declares what generation calls (issue 27, STYLE 5).

Sampling, generation and the model files reach the domain only through ``model.adapter``. Every attribute
they read there (found with :mod:`ast`: ``<anything>.adapter.<name>`` and ``adapter.<name>``) must be declared
by :class:`unite_mol.sampling.SamplingAdapter` (or the core's :class:`~unite_mol.core.unite.Adapter` it
extends), and the molecule adapter must satisfy that protocol at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Generic, Protocol

import unite_mol
from unite_mol.sampling import SamplingAdapter

PACKAGE = Path(unite_mol.__file__).resolve().parent
CALLERS = sorted((PACKAGE / "sampling").glob("*.py")) + [PACKAGE / "generation.py", PACKAGE / "model_io.py"]


def declared(protocol: type) -> set[str]:
    """The attributes and methods a Protocol declares, its Protocol bases included."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (object, Protocol, Generic):
            continue
        names |= set(vars(cls).get("__annotations__", {}))
        names |= {k for k, v in vars(cls).items() if callable(v) and not k.startswith("_")}
    return names


def adapter_uses(path: Path) -> dict[str, int]:
    """Each ``adapter.<name>`` read in one file (``x.adapter.<name>`` or a bare ``adapter.<name>``), with a line."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        v = node.value
        if (isinstance(v, ast.Attribute) and v.attr == "adapter") or (isinstance(v, ast.Name) and v.id == "adapter"):
            found.setdefault(node.attr, node.lineno)
    return found


def test_the_scan_sees_adapter_reads(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f(model, adapter):\n    a = model.adapter.to_bonds\n    return adapter.config, 'adapter.refiner'\n")
    assert adapter_uses(probe) == {"to_bonds": 2, "config": 3}


def test_the_protocol_lists_every_adapter_attribute_generation_uses():
    have = declared(SamplingAdapter)
    uses = {(name, f"{p.relative_to(PACKAGE.parent).as_posix()}:{line}")
            for p in CALLERS for name, line in adapter_uses(p).items()}
    assert {"to_arrays", "valence_error", "config"} <= {name for name, _ in uses}   # the scan found the callers
    missing = sorted(f"{where}: adapter.{name}" for name, where in uses if name not in have)
    assert not missing, "not declared by SamplingAdapter:\n" + "\n".join(missing)


def test_the_molecule_adapter_is_a_sampling_adapter():
    from helpers import tiny_model

    model = tiny_model()
    assert isinstance(model.adapter, SamplingAdapter)
    for name in declared(SamplingAdapter):
        assert hasattr(model.adapter, name), name
