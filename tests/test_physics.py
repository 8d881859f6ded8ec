"""The physical yardstick (unite_mol.metrics.physics): relaxation changes, W1 distances, the report's keys."""

from __future__ import annotations

import numpy as np
import pytest

from unite_mol.metrics import physics
from unite_mol.molecule import Molecule

pytest.importorskip("tblite")
pytest.importorskip("posebusters")


def water(oh: float = 0.96, angle_deg: float = 104.5) -> Molecule:
    a = np.radians(angle_deg) / 2
    pos = np.array([[0.0, 0.0, 0.0], [oh * np.sin(a), oh * np.cos(a), 0.0], [-oh * np.sin(a), oh * np.cos(a), 0.0]])
    return Molecule(np.array([8, 1, 1]), pos, bonds=np.array([[0, 1, 1], [0, 2, 1]]))


def test_relaxation_changes_measure_bonds_angles_and_rmsd():
    a, b = water(), water(oh=1.06, angle_deg=94.5)
    same = physics.relaxation_changes(a.positions, a.positions, a.bonds)
    assert same == pytest.approx({"rmsd_A": 0.0, "bond_change_mA": 0.0, "angle_change_deg": 0.0}, abs=1e-9)
    moved = physics.relaxation_changes(a.positions, b.positions, a.bonds)
    assert moved["bond_change_mA"] == pytest.approx(100.0)
    assert moved["angle_change_deg"] == pytest.approx(10.0)
    assert moved["rmsd_A"] > 0.0
    # rotating and translating the relaxed geometry changes none of them
    r = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    turned = physics.relaxation_changes(a.positions, b.positions @ r.T + 1.0, a.bonds)
    assert turned == pytest.approx(moved)


def test_angle_triples_are_every_bonded_pair_of_a_centre():
    tri = physics.angle_triples(5, np.array([[0, 1, 1], [0, 2, 1], [0, 3, 1], [3, 4, 1]]))
    assert {tuple(t) for t in tri} == {(1, 0, 2), (1, 0, 3), (2, 0, 3), (0, 3, 4)}


def qm9_molecules(rows) -> list[Molecule]:
    from unite_mol.bench.qm9_eval import test_molecules

    mols = test_molecules(max(rows) + 1)
    return [mols[i] for i in rows]


def test_w1_is_zero_against_itself_and_grows_with_distortion():
    mols = qm9_molecules(range(40))
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in physics.geometry_w1(mols, mols).values())
    rng = np.random.default_rng(0)
    noisy = [m.replace(positions=m.positions + rng.normal(0, 0.05, m.positions.shape)) for m in mols]
    w1 = physics.geometry_w1(noisy, physics.geometry_values(mols))   # precomputed reference, same result
    assert w1 == physics.geometry_w1(noisy, mols)
    assert w1["w1/bond/C-H"] > 5.0 and w1["w1/angle/H-C-H"] > 0.5


def test_physics_metrics_on_data_is_near_zero_relaxation():
    mols = qm9_molecules([0, 1, 2])
    metrics, records = physics.physics_metrics(mols, xtb_n=2, workers=1)
    assert metrics["xtb/n"] == 2 and metrics["xtb/failed"] == 0
    assert 0.0 <= metrics["xtb/relax_median_kcal"] < 5.0          # QM9's DFT geometries are near GFN2 minima
    assert metrics["posebusters/n"] == 3 and metrics["usable/own"] == 1.0
    assert records[0]["xtb_ran"] and "xtb_ran" not in records[2]    # only the first xtb_n are relaxed
    squeezed = water(oh=0.7)
    m2, _ = physics.physics_metrics([squeezed], xtb_n=1, workers=1)
    assert m2["xtb/relax_median_kcal"] > 20.0


def test_physics_metrics_refuses_non_molecules():
    with pytest.raises(TypeError, match="molecule 1"):
        physics.physics_metrics([water(), "CCO"])
    with pytest.raises(ValueError, match="xtb_n"):
        physics.physics_metrics([water()], xtb_n=-1)
