"""The package's arrows run one way: the image rooms load no molecule code, metrics no bench."""

import subprocess
import sys
import textwrap

MOLECULE_MODULES = ("unite_mol.generation", "unite_mol.molecular", "unite_mol.data.qm9", "unite_mol.bench.qm9",
                    "unite_mol.train")


def loaded_after(code: str) -> list[str]:
    """The modules of MOLECULE_MODULES (and any bench) loaded after running ``code`` in a fresh interpreter."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        print(sorted(m for m in sys.modules if m in {MOLECULE_MODULES!r} or m.startswith("unite_mol.bench")))
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])


def test_images_load_no_molecule_code(tmp_path):
    assert loaded_after(f"""
        import unite_mol.images
        import unite_mol.images.io, unite_mol.images.classifier, unite_mol.images.gpu_bench
        import unite_mol.images.train, unite_mol.images.evaluate, unite_mol.images.sample
        from unite_mol.images import build_image_model
        from unite_mol.images.io import load_image_model, save_image_model
        save_image_model({str(tmp_path / "m")!r}, build_image_model("IM-T"))
        load_image_model({str(tmp_path / "m")!r})
    """) == []


def test_metrics_cli_loads_no_bench():
    assert loaded_after("import unite_mol.metrics.__main__") == []
