"""The drug-like set's lower half: its source SMILES, seeded sample and split, one molecule's conformer,
and the settings fingerprint and cache paths a build is keyed by.

:mod:`unite_mol.data.druglike` documents the set (source, sampling, split, conformer procedure) and holds the
sharded, resumable parallel build and the split classes on top of this module; everything public here is
importable from there as well. Nothing here starts a process or writes a conformer shard.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from unite_mol.data.cache import cache_dir, fingerprint
from unite_mol.molecule import Molecule

DEFAULT_SIZE = 2000
DEFAULT_SEED = 0
DEFAULT_WORKERS = 2
MMFF_MAX_ITERS = 2000
EMBED_TIMEOUT_S = 60          # a safeguard for pathological embeddings; none is expected to reach it
#: how :func:`conformer` embeds (part of the cache fingerprint: changing it must not reuse old conformers)
ETKDG_SETTINGS = {"method": "ETKDGv3", "timeout_s": EMBED_TIMEOUT_S, "retry": "useRandomCoords", "add_hs": True}
DEFAULT_SHARD_SIZE = 500      # molecules per shard file: what a killed build can lose
PROCESSING_VERSION = 2
SOURCE_FILE = "train.csv.gz"
SPLIT_NAMES = ("train", "valid", "test")
SPLIT_CODES = {name: k for k, name in enumerate(SPLIT_NAMES)}

REPO_DIR = Path(__file__).resolve().parents[2] / "datasets" / "druglike"
REPO_SPLIT_FILE = REPO_DIR / "split.csv"


# ---------------------------------------------------------------------------------------------- source
def source_path() -> Path:
    """MOSES's ``train.csv.gz`` inside the installed ``molsets`` package (found without importing ``moses``).

    Raises:
        FileNotFoundError: if ``molsets`` is not installed (``pip install --no-deps molsets==0.3.1``).
    """
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the drug-like SMILES come from the molsets package, which is not installed: "
                                "pip install --no-deps molsets==0.3.1")
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset" / "data" / SOURCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"molsets is installed but {path} is missing; reinstall molsets==0.3.1")
    return path


@lru_cache(maxsize=1)
def _source_smiles() -> np.ndarray:
    import pandas as pd

    return pd.read_csv(source_path())["SMILES"].to_numpy(dtype=str)


def split_of_position(position: np.ndarray) -> np.ndarray:
    """Split code (0 train, 1 valid, 2 test) of each position in the seeded order (see the module docstring)."""
    r = np.asarray(position) % 10
    return np.where(r == 9, SPLIT_CODES["test"], np.where(r == 8, SPLIT_CODES["valid"], SPLIT_CODES["train"]))


def sample(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """The molecules of a build before any conformer work: ``position``, ``moses_row``, ``smiles``, ``split``.

    Raises:
        ValueError: if ``size`` is not in 1..(number of MOSES training SMILES).
    """
    smiles = _source_smiles()
    if not 1 <= size <= len(smiles):
        raise ValueError(f"size must be in 1..{len(smiles)} (the MOSES training SMILES), got {size}")
    rows = np.random.default_rng(seed).permutation(len(smiles))[:size].astype(np.int64)
    position = np.arange(size, dtype=np.int64)
    return {"position": position, "moses_row": rows, "smiles": smiles[rows], "split": split_of_position(position)}


def write_split_file(path: Path = REPO_SPLIT_FILE, *, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Path:
    """Write the committed split (``position,moses_row,split,smiles`` per molecule) for ``size`` and ``seed``."""
    from unite_mol.files import atomic_open

    s = sample(size, seed)
    with atomic_open(path, "w") as fh:
        fh.write(f"# unite_mol drug-like split: MOSES {SOURCE_FILE}, seed {seed}, size {size}; "
                 "written by python -m unite_mol.data.druglike split\n")
        fh.write("position,moses_row,split,smiles\n")
        for p, r, c, smi in zip(s["position"], s["moses_row"], s["split"], s["smiles"]):
            fh.write(f"{p},{r},{SPLIT_NAMES[c]},{smi}\n")
    return path


def read_split_file(path: Path = REPO_SPLIT_FILE) -> dict[str, Any]:
    """The committed split: ``seed`` (from the header) and the columns as arrays.

    Raises:
        ValueError: if the file is malformed.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 2 or not lines[0].startswith("#") or "seed " not in lines[0]:
        raise ValueError(f"{path}: not a unite_mol drug-like split file (header line missing)")
    seed = int(lines[0].split("seed ")[1].split(",")[0])
    rows = [ln.split(",", 3) for ln in lines[2:] if ln]
    try:
        return {"seed": seed, "position": np.array([int(r[0]) for r in rows], np.int64),
                "moses_row": np.array([int(r[1]) for r in rows], np.int64),
                "split": np.array([SPLIT_CODES[r[2]] for r in rows], np.int64),
                "smiles": np.array([r[3] for r in rows], dtype=str)}
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: malformed row ({exc})") from exc


def check_against_committed(s: dict[str, np.ndarray], seed: int, path: Path = REPO_SPLIT_FILE) -> int:
    """Check the sampled molecules against the committed split (its common prefix); return how many were compared.

    Returns 0 when there is no committed file (an installed package without the repository) or it is for
    another seed.

    Raises:
        ValueError: if they disagree (the MOSES file or the sampling procedure changed).
    """
    if not path.is_file():
        return 0
    ref = read_split_file(path)
    if ref["seed"] != seed:
        return 0
    n = min(len(ref["smiles"]), len(s["smiles"]))
    for key in ("moses_row", "split", "smiles"):
        if not np.array_equal(ref[key][:n], s[key][:n]):
            k = int(np.flatnonzero(ref[key][:n] != s[key][:n])[0])
            raise ValueError(f"drug-like molecule at position {k} disagrees with {path} in {key!r} "
                             f"({ref[key][k]!r} committed, {s[key][k]!r} now): the MOSES file or the sampling changed")
    return n


# ---------------------------------------------------------------------------------------------- conformers
@contextmanager
def _quiet_rdkit() -> Iterator[None]:
    from rdkit import RDLogger

    logger = RDLogger.logger()
    logger.setLevel(RDLogger.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(RDLogger.WARNING)


def conformer(smiles: str, seed: int = DEFAULT_SEED, *, max_iters: int = MMFF_MAX_ITERS) -> dict[str, Any]:
    """One MMFF94-minimised ETKDGv3 conformer with explicit hydrogens, or the reason it failed.

    Returns a dict with ``numbers``, ``positions``, ``charges``, ``bonds`` (aromatic = 4) and ``energy``
    (MMFF94, kcal/mol), or with ``reason`` (a short text) when any step fails.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    with _quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return {"reason": "RDKit cannot parse the SMILES"}
        mol = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed)
        params.timeout = EMBED_TIMEOUT_S
        if AllChem.EmbedMolecule(mol, params) < 0:
            params.useRandomCoords = True
            if AllChem.EmbedMolecule(mol, params) < 0:
                return {"reason": "ETKDG embedding failed (also from random coordinates)"}
        if not AllChem.MMFFHasAllMoleculeParams(mol):
            return {"reason": "MMFF94 has no parameters for some atom"}
        ff = AllChem.MMFFGetMoleculeForceField(mol, AllChem.MMFFGetMoleculeProperties(mol))
        if ff.Minimize(maxIts=max_iters) != 0:
            return {"reason": f"MMFF94 did not converge in {max_iters} iterations"}
        energy = float(ff.CalcEnergy())
    m = Molecule.from_rdkit(mol)
    return {"numbers": m.numbers, "positions": m.positions, "charges": m.charges, "bonds": m.bonds, "energy": energy}


def build_settings(seed: int) -> dict[str, Any]:
    """Everything that decides a molecule's conformer, apart from which molecules are in the set."""
    from importlib.metadata import PackageNotFoundError, version

    from rdkit import __version__ as rdkit_version

    try:
        molsets = version("molsets")
    except PackageNotFoundError:
        molsets = "unknown"
    return {"source": SOURCE_FILE, "source_bytes": source_path().stat().st_size, "molsets": molsets, "seed": seed,
            "rdkit": rdkit_version, "etkdg": ETKDG_SETTINGS, "mmff": {"variant": "MMFF94", "max_iters": MMFF_MAX_ITERS},
            "version": PROCESSING_VERSION}


def settings_key(seed: int = DEFAULT_SEED) -> str:
    """The fingerprint of :func:`build_settings`: names the shard folder, shared by every size."""
    return fingerprint(build_settings(seed))


def cache_path(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Path:
    """Where the build for ``size`` and ``seed`` is cached (one file, assembled from the shards)."""
    return cache_dir() / f"druglike-{size}-{fingerprint({**build_settings(seed), 'size': size})}.npz"


def shard_dir(seed: int = DEFAULT_SEED) -> Path:
    """The folder of finished shards for ``seed`` and the current settings (any size reuses them)."""
    return cache_dir() / f"druglike-shards-{settings_key(seed)}"


def card_dir(size: int = DEFAULT_SIZE) -> Path:
    """Where the card of a ``size`` build goes by default: ``datasets/druglike`` or ``datasets/druglike-<size>``."""
    return REPO_DIR if size == DEFAULT_SIZE else REPO_DIR.parent / f"druglike-{size}"
