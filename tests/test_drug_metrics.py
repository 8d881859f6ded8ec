"""Drug metrics (unite_mol.metrics.drugs) on hand-made molecules whose answers are known."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before tblite / torch start OpenMP: the CPU is shared

from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from unite_mol.metrics import drugs  # noqa: E402
from unite_mol.molecule import Molecule  # noqa: E402

PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"
SPLIT_CSV = Path(__file__).resolve().parents[1] / "datasets" / "druglike" / "split.csv"


@lru_cache(maxsize=None)
def conformer(smiles: str = PARACETAMOL) -> Molecule:
    """An ETKDGv3 conformer minimised with MMFF94 to convergence, with explicit hydrogens."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = 0
    assert AllChem.EmbedMolecule(rd, params) == 0
    assert AllChem.MMFFOptimizeMolecule(rd, maxIters=5000) == 0
    return Molecule.from_rdkit(rd)


def squeezed(mol: Molecule, i: int, j: int, by: float = 0.5) -> Molecule:
    """``mol`` with atoms ``i`` and ``j`` each moved ``by / 2`` A towards the other."""
    pos = mol.positions.copy()
    u = (pos[j] - pos[i]) / np.linalg.norm(pos[j] - pos[i])
    pos[i] += 0.5 * by * u
    pos[j] -= 0.5 * by * u
    return mol.replace(positions=pos)


def amide_cn(mol: Molecule) -> tuple[int, int]:
    """The atoms of paracetamol's amide C-N bond (a single bond between C and N)."""
    for i, j, order in mol.bonds:
        pair = {mol.symbols[i], mol.symbols[j]}
        if pair == {"C", "N"} and order == 1 and not any(o == 4 for a, b, o in mol.bonds if i in (a, b) or j in (a, b)):
            return int(i), int(j)
    raise AssertionError("no amide C-N bond found")


def water(r_oh: float = 0.96, angle_deg: float = 104.5) -> Molecule:
    a = np.radians(angle_deg)
    pos = np.array([[0.0, 0.0, 0.0], [r_oh, 0.0, 0.0], [r_oh * np.cos(a), r_oh * np.sin(a), 0.0]])
    return Molecule(np.array([8, 1, 1]), pos, bonds=np.array([[0, 1, 1], [0, 2, 1]]))


def druglike_smiles(start: int, stop: int) -> list[str]:
    lines = SPLIT_CSV.read_text().splitlines()[2:]
    return [ln.split(",", 3)[3] for ln in lines[start:stop]]


# ------------------------------------------------------------------------------------------- PoseBusters
def test_posebusters_passes_force_field_conformer_and_fails_squeezed_bond():
    good = conformer()
    i, j = amide_cn(good)
    bad = squeezed(good, i, j, 0.5)  # 1.36 A -> 0.86 A
    metrics, records = drugs.posebusters_checks([good, bad])
    assert records[0]["pb_ok"], records[0]["pb_reason"]
    assert records[0]["pb_bond_lengths"] is True and records[0]["pb_internal_energy"] is True
    assert not records[1]["pb_ok"]
    assert records[1]["pb_bond_lengths"] is False
    assert "bond_lengths" in records[1]["pb_reason"]
    assert metrics["posebusters_all"] == 0.5
    assert metrics["posebusters/bond_lengths"] == 0.5
    assert metrics["posebusters/aromatic_ring_flatness"] == 1.0
    assert metrics["posebusters_unchecked"] == 0


def test_posebusters_counts_unsanitisable_molecule_as_unchecked():
    good = conformer()
    c = next(k for k, s in enumerate(good.symbols) if s == "C")  # give a carbon a fifth bond
    h = next(k for k, s in enumerate(good.symbols) if s == "H" and not any(c in b[:2] and k in b[:2] for b in good.bonds))
    bad = good.replace(bonds=np.vstack([good.bonds, [[min(c, h), max(c, h), 1]]]))
    metrics, records = drugs.posebusters_checks([bad])
    assert records[0]["pb_sanitization"] is False
    assert records[0]["pb_bond_lengths"] is None  # not run, reads as not passed
    assert "does not sanitise" in records[0]["pb_reason"]
    assert metrics["posebusters_unchecked"] == 1 and metrics["posebusters_all"] == 0


# ------------------------------------------------------------------------------------------------- xTB
def test_xtb_relaxed_water_has_gfn2_geometry_and_no_relaxation_energy():
    r = drugs.xtb_relax(water(1.0, 100.0), fmax=1e-5)
    assert r.converged and r.relaxation_kcal > 0
    p = r.positions
    oh = [np.linalg.norm(p[k] - p[0]) for k in (1, 2)]
    assert all(0.94 < d < 0.98 for d in oh), oh  # GFN2-xTB O-H ~0.96 A
    again = drugs.xtb_relax(water().replace(positions=p))
    assert again.converged and abs(again.relaxation_kcal) < 1e-3


def test_xtb_distorted_water_relaxes_by_several_kcal():
    r = drugs.xtb_relax(water(1.25, 80.0))
    assert r.converged
    assert r.relaxation_kcal > 10


def test_xtb_reads_total_charge_from_formal_charges():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles("[NH4+]"))
    AllChem.EmbedMolecule(rd, randomSeed=0)
    ion = Molecule.from_rdkit(rd)
    assert ion.formal_charges.sum() == 1
    cation = drugs.xtb_relax(ion, max_steps=1)
    radical = drugs.xtb_relax(ion.replace(charges=None), max_steps=1)  # neutral NH4: one more electron
    assert abs(cation.energy_initial - radical.energy_initial) > 0.1  # hartree; an ionisation energy apart


def test_xtb_relaxation_of_a_set_counts_unconverged_and_failed():
    mol = conformer()
    overlap = mol.replace(positions=np.vstack([mol.positions[:1], mol.positions[:1] + 0.1, mol.positions[2:]]))
    metrics, records = drugs.xtb_relaxation([squeezed(mol, *amide_cn(mol), 0.3), overlap], max_steps=2)
    assert records[0]["xtb_ran"] and not records[0]["xtb_converged"] and "did not converge" in records[0]["xtb_reason"]
    assert records[0]["xtb_relax_kcal"] > 1  # two steps on a squeezed bond already release energy
    assert not records[1]["xtb_ran"] and "overlap" in records[1]["xtb_reason"]
    assert metrics["xtb_not_converged"] == 1 and metrics["xtb_failed"] == 1
    assert metrics["xtb_relax_median_kcal"] == pytest.approx(records[0]["xtb_relax_kcal"])


# ------------------------------------------------------------------------------------------------ MMFF
def test_mmff_strain_zero_for_minimised_and_positive_for_squeezed():
    good = conformer()
    bad = squeezed(good, *amide_cn(good), 0.5)
    metrics, records = drugs.mmff_strain([good, bad])
    assert abs(records[0]["mmff_strain_kcal"]) < 0.01
    assert records[1]["mmff_strain_kcal"] > 20
    assert metrics["mmff_failed"] == 0 and metrics["mmff_not_converged"] == 0


# ------------------------------------------------------------------------------------------------- FCD
def test_fcd_zero_for_same_set_and_grows_for_different_sets():
    a, b = druglike_smiles(0, 100), druglike_smiles(100, 200)
    small = ["C" * n + x for n in range(1, 21) for x in ("", "O", "N", "Cl", "F")]  # 100 small aliphatics
    same = drugs.fcd_score(a, a)
    like = drugs.fcd_score(a, b)
    unlike = drugs.fcd_score(a, small)
    assert abs(same) < 1e-2
    assert 1.0 < like < 40.0   # two disjoint samples of one distribution: the small-sample floor (~17 here)
    assert unlike > 2 * like   # drug-like vs small aliphatic molecules (~63 here)


def test_fcd_weights_ship_with_the_wheel():
    from importlib.resources import files

    assert (files("fcd") / drugs.FCD_WEIGHTS).is_file()


# ------------------------------------------------------------------------------------------------- all
def test_drug_metrics_flat_dict():
    good = conformer()
    bad = squeezed(good, *amide_cn(good), 0.5)
    res = drugs.drug_metrics([good, bad], reference_smiles=druglike_smiles(0, 20), xtb_max_steps=300)
    m = res.metrics
    assert m["drugs/n"] == 2 and m["drugs/posebusters_all"] == 0.5
    for key in ("drugs/xtb_relax_median_kcal", "drugs/xtb_relax_mean_kcal", "drugs/mmff_strain_median_kcal",
                "drugs/fcd", "drugs/posebusters/internal_steric_clash", "drugs/xtb_seconds_per_molecule"):
        assert key in m and np.isfinite(m[key]), key
    assert m["drugs/xtb_failed"] == 0 and m["drugs/fcd_invalid"] == 0
    xtb = res.records["xtb_relax_kcal"].to_numpy()
    assert xtb[1] > xtb[0] + 10  # the squeezed bond costs far more than the MMFF -> GFN2 gap
    assert list(res.records["smiles"]) == ["CC(=O)Nc1ccc(O)cc1"] * 2
    assert all(isinstance(v, float) for v in m.values())


# ------------------------------------------------------------------------------------------- bad input
def test_bad_input_raises_value_error_naming_the_problem():
    good = conformer()
    with pytest.raises(ValueError, match="bonds=None"):
        drugs.drug_metrics([good, good.replace(bonds=None)], measures=("mmff",))
    with pytest.raises(ValueError, match="bonds=None"):
        drugs.posebusters_checks([good.replace(bonds=None)])
    nan = good.positions.copy()
    nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="molecule 1: non-finite coordinates"):
        drugs.drug_metrics([good, (good.numbers, nan)], measures=("xtb",))
    with pytest.raises(ValueError, match="no molecules"):
        drugs.drug_metrics([])
    with pytest.raises(ValueError, match="unknown measures"):
        drugs.drug_metrics([good], measures=("posebuster",))
    with pytest.raises(ValueError, match="no GFN2-xTB parameters"):
        drugs.xtb_relaxation([Molecule(np.array([92]), np.zeros((1, 3)))])
    with pytest.raises(ValueError, match="max_steps"):
        drugs.xtb_relax(water(), max_steps=0)
    with pytest.raises(ValueError, match="at least 2 reference"):
        drugs.fcd_score(["CCO", "CCN"], ["CCO"])
    with pytest.raises(ValueError, match="reference SMILES 1"):
        drugs.fcd_score(["CCO", "CCN"], ["CCO", "not a smiles"])
    with pytest.raises(TypeError, match="list of molecules"):
        drugs.drug_metrics(good)
