"""A drug-like 3D set built offline: MOSES SMILES, RDKit ETKDG conformers, MMFF94 minimisation.

GEOM-drugs cannot be downloaded on the project machines, so this set stands in for it during
development. **These are force-field conformers** (one ETKDGv3 embedding per molecule, minimised with
MMFF94), not GEOM's CREST/GFN2-xTB conformer ensembles: geometries differ in detail, and there is one
conformer per molecule.

Source: the MOSES training SMILES (ZINC clean leads; Polykovskiy et al. 2020) that the ``molsets==0.3.1``
package ships as ``moses/dataset/data/train.csv.gz``. The file is located with ``importlib`` and read with
pandas; ``moses`` itself is never imported (its dependencies do not install here).

Sampling and split, fixed by ``seed``: the rows of the MOSES file are permuted with
``numpy.random.default_rng(seed).permutation``; the first ``size`` rows of that order are the set, and the
molecule at position ``k`` of the order goes to ``test`` when ``k % 10 == 9``, to ``valid`` when
``k % 10 == 8`` and to ``train`` otherwise. A larger build therefore extends a smaller one, and a molecule
whose conformer fails leaves the others where they were. The default split (SMILES, MOSES row and split
for every position) is committed as ``datasets/druglike/split.csv``; a build checks its molecules
against it, so a change in the source file or the procedure cannot pass silently.

Conformers: hydrogens added, ETKDGv3 with ``randomSeed = seed`` (each molecule embedded on its own, so a
molecule's conformer does not depend on the others, the worker count or the order); a molecule that
does not embed is retried once from random coordinates; then MMFF94 minimisation until convergence (at
most ``MMFF_MAX_ITERS`` iterations). Each failure is recorded with its reason (unparsable SMILES,
embedding failure, missing MMFF parameters, no convergence), never dropped silently.

Work runs in a ``multiprocessing`` pool of ``workers`` processes (spawned, so callers that hold threads are
safe) with a tqdm progress bar; the result goes to the processed cache (:mod:`unite_mol.data.cache`) keyed
by a fingerprint of the source file, size, seed, RDKit version and this module's processing version.

Commands::

    python -m unite_mol.data.druglike build [--size 2000] [--workers 2]   # build (or find) the cache
    python -m unite_mol.data.druglike card  [--size 2000] [--workers 2]   # build, then write datasets/druglike/README.md
    python -m unite_mol.data.druglike split                              # rewrite datasets/druglike/split.csv

Usage::

    from unite_mol.data.druglike import druglike
    train = druglike("train")          # Sequence of Molecule with charges, bonds (aromatic = 4), smiles, energy
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from unite_mol.data.cache import cache_dir, fingerprint, save_npz_atomic
from unite_mol.data.flat import FlatSplit
from unite_mol.molecule import Molecule

DEFAULT_SIZE = 2000
DEFAULT_SEED = 0
DEFAULT_WORKERS = 2
MMFF_MAX_ITERS = 2000
EMBED_TIMEOUT_S = 60          # a safeguard for pathological embeddings; none is expected to reach it
PROCESSING_VERSION = 1
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


def _work(task: tuple[int, str, int, int]) -> tuple[int, dict[str, Any]]:
    position, smiles, seed, max_iters = task
    return position, conformer(smiles, seed, max_iters=max_iters)


def _run(tasks: list[tuple[int, str, int, int]], workers: int, progress: bool) -> list[dict[str, Any]]:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="drug-like conformers", unit="mol", disable=not progress, mininterval=1)
    out: list[dict[str, Any] | None] = [None] * len(tasks)
    try:
        if workers == 1:
            for t in tasks:
                k, res = _work(t)
                out[k] = res
                bar.update()
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for k, res in pool.imap_unordered(_work, tasks, chunksize=4):
                    out[k] = res
                    bar.update()
    finally:
        bar.close()
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def _settings(size: int, seed: int) -> dict[str, Any]:
    from rdkit import __version__ as rdkit_version

    return {"source": SOURCE_FILE, "source_bytes": source_path().stat().st_size, "size": size, "seed": seed,
            "rdkit": rdkit_version, "mmff_max_iters": MMFF_MAX_ITERS, "version": PROCESSING_VERSION}


def cache_path(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Path:
    """Where the build for ``size`` and ``seed`` is cached."""
    return cache_dir() / f"druglike-{size}-{fingerprint(_settings(size, seed))}.npz"


def build(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, *, workers: int = DEFAULT_WORKERS,
          progress: bool = True, force: bool = False) -> Path:
    """Build the set (or find it in the cache) and return the cache file.

    Raises:
        ValueError: for ``workers < 1``, a bad ``size``, or molecules that disagree with the committed split.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    path = cache_path(size, seed)
    if path.exists() and not force:
        return path
    s = sample(size, seed)
    check_against_committed(s, seed)
    t0 = time.time()
    results = _run([(int(p), str(smi), seed, MMFF_MAX_ITERS) for p, smi in zip(s["position"], s["smiles"])],
                   workers, progress)
    seconds = time.time() - t0
    ok = [k for k, r in enumerate(results) if "reason" not in r]
    bad = [k for k, r in enumerate(results) if "reason" in r]
    counts = np.array([len(results[k]["numbers"]) for k in ok], np.int64)
    nbonds = np.array([len(results[k]["bonds"]) for k in ok], np.int64)
    cat = (lambda key, empty: np.concatenate([results[k][key] for k in ok]) if ok else empty)
    arrays = {
        "position": s["position"][ok], "moses_row": s["moses_row"][ok], "smiles": s["smiles"][ok],
        "split": s["split"][ok], "energy": np.array([results[k]["energy"] for k in ok], np.float64),
        "numbers": cat("numbers", np.zeros(0, np.int64)).astype(np.int8),
        "positions": cat("positions", np.zeros((0, 3))),
        "charges": cat("charges", np.zeros(0, np.int64)).astype(np.int8),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "bonds": cat("bonds", np.zeros((0, 3), np.int64)).astype(np.int32),
        "bond_offsets": np.concatenate([[0], np.cumsum(nbonds)]).astype(np.int64),
        "failed_position": s["position"][bad], "failed_smiles": s["smiles"][bad],
        "failed_reason": np.array([results[k]["reason"] for k in bad], dtype=str),
        "build_seconds": np.array(seconds), "build_workers": np.array(workers),
    }
    save_npz_atomic(path, **arrays)
    print(f"unite_mol: drug-like set of {len(ok)} molecules ({len(bad)} failed) built in {seconds:.0f} s "
          f"with {workers} worker(s), cached at {path}", file=sys.stderr)
    return path


@lru_cache(maxsize=4)
def load_arrays(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, *, workers: int = DEFAULT_WORKERS,
                progress: bool = True) -> dict[str, np.ndarray]:
    """The flat arrays of a build (building it first if needed)."""
    path = build(size, seed, workers=workers, progress=progress)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---------------------------------------------------------------------------------------------- access
class DrugLikeSplit(FlatSplit):
    """One split of the drug-like set as a sequence of :class:`Molecule` built on access.

    Flat arrays for fast batching: ``numbers``, ``positions``, ``offsets`` (molecule ``k`` is
    ``offsets[k]:offsets[k+1]``), ``num_atoms``, ``smiles``, ``energy`` (MMFF94, kcal/mol).
    """

    label = "drug-like"

    def __init__(self, name: str, data: dict[str, np.ndarray]):
        self.name = name
        self._data = data
        atom_rows = self._select(data, np.flatnonzero(data["split"] == SPLIT_CODES[name]))
        self.charges = data["charges"][atom_rows].astype(np.int64)
        self.energy = data["energy"][self._rows]
        self.moses_row = data["moses_row"][self._rows]

    def molecule(self, k: int) -> Molecule:
        s, e = self.offsets[k], self.offsets[k + 1]
        r = self._rows[k]
        b0, b1 = self._data["bond_offsets"][r], self._data["bond_offsets"][r + 1]
        props = {"smiles": str(self.smiles[k]), "energy": float(self.energy[k]), "moses_row": int(self.moses_row[k]),
                 "name": f"moses_{int(self.moses_row[k])}", "dataset": "druglike"}
        return Molecule(self.numbers[s:e], self.positions[s:e], self.charges[s:e],
                        self._data["bonds"][b0:b1].astype(np.int64), props)

    def __repr__(self) -> str:
        return f"DrugLikeSplit({self.name!r}, {len(self)} molecules, {int(self.num_atoms.sum())} atoms)"


def druglike(split: str = "train", *, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
             workers: int = DEFAULT_WORKERS, progress: bool = True) -> DrugLikeSplit:
    """One split (``"train"``, ``"valid"``, ``"test"``) of the drug-like 3D set, built on first use.

    The default (2,000 molecules) builds in about a minute and a half on two cores; later calls load the
    cache.

    Raises:
        ValueError: for an unknown split or bad options.
        FileNotFoundError: if ``molsets`` is not installed.
    """
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown drug-like split {split!r}; choose one of {list(SPLIT_CODES)}")
    return DrugLikeSplit(split, load_arrays(size, seed, workers=workers, progress=progress))


# ---------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.data.druglike",
                                description="build the offline drug-like 3D set (MOSES SMILES, ETKDG + MMFF94)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("build", "build the set into the cache (idempotent)"),
                       ("card", "build, then write the dataset card into --out-dir")):
        q = sub.add_parser(name, help=text)
        q.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"molecules to sample (default {DEFAULT_SIZE})")
        q.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling, split and ETKDG seed (default 0)")
        q.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="processes for conformer work (default 2)")
        q.add_argument("--no-progress", action="store_true", help="no progress bar")
        if name == "build":
            q.add_argument("--force", action="store_true", help="rebuild even if the cache has it")
        else:
            q.add_argument("--out-dir", default=str(REPO_DIR), help="folder for README.md and histograms.png")
            q.add_argument("--no-calibration", action="store_true", help="skip the metrics on the data itself")
    q = sub.add_parser("split", help="rewrite the committed split file from the seed (no conformers needed)")
    q.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"molecules (default {DEFAULT_SIZE})")
    q.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed (default 0)")
    q.add_argument("--out", default=str(REPO_SPLIT_FILE), help="the CSV to write")
    args = p.parse_args(argv)
    if getattr(args, "size", 1) < 1:
        p.error("--size must be at least 1")
    if getattr(args, "workers", 1) < 1:
        p.error("--workers must be at least 1")
    if args.command == "split":
        print(write_split_file(Path(args.out), size=args.size, seed=args.seed))
    elif args.command == "build":
        print(build(args.size, args.seed, workers=args.workers, progress=not args.no_progress, force=args.force))
    else:
        from unite_mol.data.druglike_card import write_card

        print(write_card(Path(args.out_dir), size=args.size, seed=args.seed, workers=args.workers,
                         progress=not args.no_progress, calibration=not args.no_calibration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
