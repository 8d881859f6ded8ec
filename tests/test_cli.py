"""Command lines: generate to SDF/XYZ, export, train argument errors; the shipped model."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import tiny_model
from unite_mol.generation import DEFAULT_GUIDE, DEFAULT_MODEL, save_model


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "UNITE_MOL_NO_PROGRESS": "1", "PATH": "/usr/bin:/bin"})


def test_generate_writes_sdf_that_rdkit_reads_back(tmp_path):
    from rdkit import Chem

    save_model(tmp_path / "m", tiny_model())
    out = run("unite_mol", "generate", "--n", "100", "--out", str(tmp_path / "x.sdf"), "--model", str(tmp_path / "m"),
              "--steps", "2", "--bonds", "edm")
    assert out.returncode == 0, out.stderr
    mols = [m for m in Chem.SDMolSupplier(str(tmp_path / "x.sdf"), sanitize=False, removeHs=False)]
    assert len(mols) == 100 and all(m is not None for m in mols)
    out = run("unite_mol", "generate", "--n", "3", "--out", str(tmp_path / "x.xyz"), "--model", str(tmp_path / "m"), "--steps", "2")
    assert out.returncode == 0 and (tmp_path / "x.xyz").read_text().count("\n") > 3


def test_cli_errors_are_clear(tmp_path):
    out = run("unite_mol", "generate", "--n", "3", "--out", str(tmp_path / "x.pdb"), "--model", str(tmp_path / "none"))
    assert out.returncode == 2 and "write .sdf or .xyz" in out.stderr  # arguments are checked first
    out = run("unite_mol", "generate", "--n", "3", "--out", str(tmp_path / "x.sdf"), "--model", str(tmp_path / "none"))
    assert out.returncode == 2 and "not found" in out.stderr
    out = run("unite_mol.train", "--run-dir", str(tmp_path / "r"), "--budget", "ten minutes")
    assert out.returncode == 2 and "cannot read duration" in out.stderr
    out = run("unite_mol.train", "--run-dir", str(tmp_path / "r"), "--preset", "GE-XXL")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_export_half_precision(tmp_path):
    save_model(tmp_path / "m", tiny_model())
    out = run("unite_mol", "export", str(tmp_path / "m"), str(tmp_path / "h"), "--float16")
    assert out.returncode == 0, out.stderr
    assert torch.load(tmp_path / "h.pt", weights_only=True)["ge.latent_in.weight"].dtype == torch.float16


@pytest.mark.skipif(not DEFAULT_MODEL.with_suffix(".pt").exists(), reason="no shipped model in this checkout")
def test_shipped_model_generates_molecules():
    from unite_mol import generate

    mols = generate(8, seed=0, sampler=dict(steps=10))
    assert len(mols) == 8 and all(m.bonds is not None for m in mols)
    assert mols[0].to_rdkit(sanitize=False).GetNumAtoms() == mols[0].num_atoms
    # guide="auto" guides the shipped model by the shipped guide, which denoises the same latent space
    assert "guidance 2" not in mols[0].properties["sampler"]
    guided = generate(8, seed=0, sampler=dict(steps=10, guide="auto"))
    assert "guidance 2 for t in [0.5, 1)" in guided[0].properties["sampler"]
    assert guided[0].properties["sampler"].endswith("valence guidance 4 steps, one valence step per prediction for "
                                                   "t >= 0.9")   # on by default: a bond head
    assert any(a.positions.shape != b.positions.shape or not np.allclose(a.positions, b.positions)
               for a, b in zip(mols, guided))


@pytest.mark.skipif(not DEFAULT_GUIDE.with_suffix(".pt").exists(), reason="no shipped guide in this checkout")
def test_shipped_guide_shares_the_shipped_models_latent_space():
    from unite_mol.bench.diagnose import encode_molecules
    from unite_mol.data import qm9
    from unite_mol.generation import load_model

    mols = [qm9("test")[i] for i in range(32)]
    z = encode_molecules(load_model(), mols).latents()
    zg = encode_molecules(load_model(DEFAULT_GUIDE), mols).latents()
    assert ((z - zg) ** 2).mean() / (z ** 2).mean() < 0.005               # measured 7e-4 on 256 molecules
