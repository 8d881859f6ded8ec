"""Dispatch ``python -m unite_mol.bench NAME ...`` to the benchmark module NAME; ``--help`` lists them."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys

from unite_mol.bench import BENCHMARKS


def summary(module: str) -> str:
    """The first docstring line of a benchmark module, read from its source (nothing is imported)."""
    spec = importlib.util.find_spec(module)
    try:
        with open(spec.origin, encoding="utf-8") as fh:
            doc = ast.get_docstring(ast.parse(fh.read())) or ""
    except (OSError, SyntaxError, AttributeError, TypeError):
        return ""
    first = doc.strip().split("\n")[0]
    return first.split("``: ", 1)[1] if "``: " in first else first


def usage() -> str:
    known = ", ".join(sorted(BENCHMARKS))
    width = max(len(k) for k in BENCHMARKS)
    lines = [f"usage: python -m unite_mol.bench {{{known}}} [options]", "",
             "benchmarks (python -m unite_mol.bench NAME --help for each one's options):"]
    lines += [f"  {name:<{width}}  {summary(module)}" for name, module in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in BENCHMARKS:
        print(usage(), file=sys.stderr)
        print(f"\nunknown benchmark {argv[0]!r}; choose one of: {', '.join(sorted(BENCHMARKS))}", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
