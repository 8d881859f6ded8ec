"""Benchmarks: ``python -m unite_mol.bench <name> [options]``.

Each benchmark is a module of this package with a ``main(argv) -> int`` function; results are written
under ``benchmarks/`` with the command, machine, commit and wall-clock that produced them.
"""

BENCHMARKS = {
    "qm9": "unite_mol.bench.qm9",
    "drugs": "unite_mol.bench.drugs",
    "druglike-card": "unite_mol.bench.druglike_card",
    "metrics": "unite_mol.bench.metrics_speed",
    "run": "unite_mol.bench.run_report",
    "draw": "unite_mol.bench.draw",
    "diagnose": "unite_mol.bench.diagnose",
    "partial": "unite_mol.bench.partial",
    "levers": "unite_mol.bench.levers",
    "throughput": "unite_mol.bench.throughput",
    "alignment": "unite_mol.bench.alignment",
}
