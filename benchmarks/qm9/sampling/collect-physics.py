"""Collect round 13's per-arm ``bench levers`` results into one CSV of key columns (stdout).

    python benchmarks/qm9/sampling/collect-physics.py runs/r13 > benchmarks/qm9/sampling/round13.csv
"""
import csv
import pathlib
import sys

KEYS = [("atom_stab", "gen/edm/atom_stability"), ("mol_stab", "gen/edm/mol_stability"), ("valid", "gen/edm/validity"),
        ("valid_conn", "gen/edm/connected"), ("ob_valid_conn", "gen/openbabel/connected"),
        ("xtb_n", "phys/xtb/n"), ("xtb_median_kcal", "phys/xtb/relax_median_kcal"),
        ("xtb_mean_kcal", "phys/xtb/relax_mean_kcal"), ("bond_change_mA", "phys/xtb/bond_change_mA"),
        ("angle_change_deg", "phys/xtb/angle_change_deg"), ("pb_n", "phys/posebusters/n"),
        ("pb_own", "phys/posebusters/own"), ("pb_openbabel", "phys/posebusters/openbabel"),
        ("usable_own", "phys/usable/own"), ("w1_cc_mA", "phys/w1/bond/C-C"), ("w1_ccc_deg", "phys/w1/angle/C-C-C"),
        ("generate_s", "generate_s")]
PERCENT = {"atom_stab", "mol_stab", "valid", "valid_conn", "ob_valid_conn", "pb_own", "pb_openbabel", "usable_own"}
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/r13")
w = csv.writer(sys.stdout)
w.writerow(["arm", "seed", "samples", "sampler"] + [k for k, _ in KEYS])
for f in sorted(root.glob("s*/*/results.csv")):
    r = next(csv.DictReader(f.open()))
    vals = []
    for k, src in KEYS:
        v = float(r[src])
        vals.append(f"{100 * v:.1f}" if k in PERCENT else f"{v:.1f}")
    w.writerow([f.parent.name, f.parent.parent.name[1:], r["samples"], r["sampler"]] + vals)
