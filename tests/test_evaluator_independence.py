"""The judge is separate from the generator (issue 26): no sampling, generation or training module imports the
evaluation's tables (:mod:`unite_mol.metrics.edm_tables`) or anything else of :mod:`unite_mol.metrics`.

Every import statement is walked with :mod:`ast`, module-level and inside functions alike, so a lazy import
in a sampler step counts as much as one at the top of the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import unite_mol

PACKAGE = Path(unite_mol.__file__).resolve().parent
#: what samples or trains: their coordinates must not be shaped by the evaluator's tables
GENERATOR_SIDE = ["sampling", "generation.py", "molecular.py", "refiner.py", "core", "train.py", "model_io.py"]
#: the evaluator's modules and names (EDM's bond lengths, margins, allowed valences and the rule reading them)
FORBIDDEN_MODULES = ("unite_mol.metrics",)
FORBIDDEN_NAMES = {"edm_tables", "edm_thresholds", "edm_bond_orders", "SINGLE_PM", "DOUBLE_PM", "TRIPLE_PM",
                   "MARGINS_PM", "ALLOWED_VALENCES", "allowed_valence_table", "metrics"}


def generator_files() -> list[Path]:
    files = []
    for name in GENERATOR_SIDE:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
    return files


def imports(path: Path, module_name: str | None = None) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import statement in the file, at any depth."""
    package = module_name or "unite_mol." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:     # relative: resolve against the importing module's package
                base = package.split(".")[: -node.level]
                module = ".".join(base + ([module] if module else []))
            found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


def violations(path: Path, module_name: str | None = None) -> list[str]:
    bad = []
    for line, module, names in imports(path, module_name):
        hit = module.startswith(FORBIDDEN_MODULES) or \
            (module.startswith("unite_mol") and FORBIDDEN_NAMES.intersection(names))
        if hit:
            bad.append(f"{path.name}:{line} imports {module} {names or ''}".rstrip())
    return bad


def test_the_walk_covers_the_generator_side():
    names = {p.relative_to(PACKAGE).as_posix() for p in generator_files()}
    assert {"generation.py", "molecular.py", "refiner.py", "train.py", "core/unite.py", "core/samplers.py"} <= names


@pytest.mark.parametrize("path", generator_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_generator_module_imports_the_evaluator(path):
    assert violations(path) == []


def test_the_walk_finds_a_function_local_import_of_the_tables(tmp_path):
    """The checker itself: a lazy import inside a method is caught, as is a relative one."""
    fake = tmp_path / "probe.py"
    fake.write_text("def energy():\n    from unite_mol.metrics.edm_tables import edm_thresholds\n"
                    "    from ..metrics import evaluate\n    from unite_mol.bonds import kekule_orders\n")
    found = violations(fake, "unite_mol.sampling.probe")
    assert len(found) == 2 and ":2 imports unite_mol.metrics.edm_tables" in found[0] and "unite_mol.metrics" in found[1]


def test_the_tables_live_with_the_judge():
    import unite_mol.bonds as bonds
    from unite_mol.metrics import edm_tables

    for name in ("SINGLE_PM", "DOUBLE_PM", "TRIPLE_PM", "MARGINS_PM", "ALLOWED_VALENCES", "edm_thresholds"):
        assert hasattr(edm_tables, name) and not hasattr(bonds, name)
