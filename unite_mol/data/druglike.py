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
safe) with a tqdm progress bar. **Resumable**: finished conformers are written in shards of
``shard_size`` consecutive positions (each file written atomically) to a folder keyed by a fingerprint of
the settings that decide a conformer (source file and ``molsets`` version, seed, RDKit version, ETKDG and
MMFF settings, this module's processing version) but not of the size; a stopped build keeps its shards, and
running the command again (with this or a larger ``--size``) computes only the positions that no shard
holds. The shards are then assembled into one file of the processed cache (:mod:`unite_mol.data.cache`),
keyed by the same fingerprint plus the size. Every shard records its wall-clock and each molecule's
conformer time, so the card reports the build's time over all sittings.

Commands (one command builds the set on a fresh machine; the data stay in the cache, only the card is
written into the repository)::

    python -m unite_mol.data.druglike build [--size 2000] [--workers 2]   # build (or resume, or find) the set
    python -m unite_mol.data.druglike split                              # rewrite datasets/druglike/split.csv
    python -m unite_mol.bench druglike-card [--size 2000] [--workers 2] # build, then write its card

The card (:mod:`unite_mol.bench.druglike_card`: plots and the package's metrics run on the data) is a report
above the judge, so it is a bench command; this module never imports the metrics. The source, sample,
split and conformer helpers and the settings fingerprint are :mod:`unite_mol.data.druglike_source`; their
public names are importable from here.

Usage::

    from unite_mol.data.druglike import druglike
    train = druglike("train")          # Sequence of Molecule with charges, bonds (aromatic = 4), smiles, energy
"""


from __future__ import annotations

import argparse
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from unite_mol.data.cache import save_npz_atomic
from unite_mol.data.druglike_source import (DEFAULT_SEED, DEFAULT_SHARD_SIZE, DEFAULT_SIZE, DEFAULT_WORKERS,
                                            EMBED_TIMEOUT_S, ETKDG_SETTINGS, MMFF_MAX_ITERS, PROCESSING_VERSION,
                                            REPO_DIR, REPO_SPLIT_FILE, SOURCE_FILE, SPLIT_CODES, SPLIT_NAMES,
                                            build_settings, cache_path, card_dir, check_against_committed,
                                            conformer, read_split_file, sample, settings_key, shard_dir,
                                            source_path, split_of_position, write_split_file)
from unite_mol.data.flat import FlatSplit
from unite_mol.molecule import Molecule

__all__ = ["DEFAULT_SEED", "DEFAULT_SHARD_SIZE", "DEFAULT_SIZE", "DEFAULT_WORKERS", "EMBED_TIMEOUT_S",
           "ETKDG_SETTINGS", "MMFF_MAX_ITERS", "PROCESSING_VERSION", "REPO_DIR", "REPO_SPLIT_FILE", "SOURCE_FILE",
           "SPLIT_CODES", "SPLIT_NAMES", "DrugLikeSplit", "build", "build_settings", "cache_path", "card_dir",
           "check_against_committed", "conformer", "druglike", "load_arrays", "main", "read_split_file", "sample",
           "settings_key", "shard_dir", "source_path", "split_of_position", "write_split_file"]


# ---------------------------------------------------------------------------------------------- build
def _work(task: tuple[int, str, int, int]) -> tuple[int, dict[str, Any], float]:
    position, smiles, seed, max_iters = task
    t0 = time.perf_counter()
    result = conformer(smiles, seed, max_iters=max_iters)
    return position, result, time.perf_counter() - t0




def _shard_name(start: int, end: int) -> str:
    return f"{start:09d}-{end:09d}.npz"


def _shard_ranges(folder: Path) -> list[tuple[int, int, Path]]:
    """``(start, end, path)`` of the finished shards in ``folder`` (temporary files of a killed write are ignored)."""
    out = []
    for path in sorted(folder.glob("*-*.npz")) if folder.is_dir() else []:
        try:
            start, end = (int(v) for v in path.stem.split("-"))
        except ValueError:
            continue
        out.append((start, end, path))
    return out


def _chunks(missing: np.ndarray, shard_size: int) -> list[np.ndarray]:
    """The missing positions cut into shards: runs of consecutive positions, never across a multiple of
    ``shard_size`` (so shards of every sitting line up on one grid)."""
    if len(missing) == 0:
        return []
    cut = np.flatnonzero((np.diff(missing) != 1) | (missing[1:] % shard_size == 0)) + 1
    return np.split(missing, cut)


def _write_shard(folder: Path, positions: np.ndarray, results: list[dict[str, Any]], worker_s: list[float],
                 seconds: float, workers: int) -> Path:
    """One finished shard, written atomically: positions ``positions[0]..positions[-1]`` (consecutive)."""
    ok = [k for k, r in enumerate(results) if "reason" not in r]
    bad = [k for k, r in enumerate(results) if "reason" in r]
    cat = (lambda key, empty: np.concatenate([results[k][key] for k in ok]) if ok else empty)
    arrays = {
        "position": positions[ok], "energy": np.array([results[k]["energy"] for k in ok], np.float64),
        "numbers": cat("numbers", np.zeros(0, np.int64)).astype(np.int8),
        "positions": cat("positions", np.zeros((0, 3))),
        "charges": cat("charges", np.zeros(0, np.int64)).astype(np.int8),
        "offsets": np.concatenate([[0], np.cumsum([len(results[k]["numbers"]) for k in ok])]).astype(np.int64),
        "bonds": cat("bonds", np.zeros((0, 3), np.int64)).astype(np.int32),
        "bond_offsets": np.concatenate([[0], np.cumsum([len(results[k]["bonds"]) for k in ok])]).astype(np.int64),
        "failed_position": positions[bad], "failed_reason": np.array([results[k]["reason"] for k in bad], dtype=str),
        "worker_seconds": np.array(worker_s, np.float64), "seconds": np.array(seconds), "workers": np.array(workers),
    }
    path = folder / _shard_name(int(positions[0]), int(positions[-1]) + 1)
    save_npz_atomic(path, **arrays)
    return path


Task = tuple[int, str, int, int]          # (position, SMILES, seed, MMFF iterations)


def _run(s: dict[str, np.ndarray], chunks: list[np.ndarray], folder: Path, *, seed: int, workers: int,
         progress: bool, work: Callable[[Task], tuple[int, dict[str, Any], float]] = _work) -> None:
    """Compute the conformers of ``chunks`` (positions into the sample ``s``), writing each shard when it is done.

    A killed run loses at most the shards in flight; the next run computes only what has no shard. Worker
    processes come from ``concurrent.futures`` (a ``multiprocessing.Pool`` waits forever for the task of a
    worker that died); ``work`` is the per-molecule function (a module-level one: it is sent to spawned workers).

    Raises:
        RuntimeError: if a worker process died (killed from outside, out of memory, a crash), naming the shard
            folder whose finished shards are kept.
    """
    from tqdm import tqdm

    tasks = [(int(p), str(s["smiles"][p]), seed, MMFF_MAX_ITERS) for c in chunks for p in c]
    bar = tqdm(total=len(tasks), desc="drug-like conformers", unit="mol", disable=not progress, mininterval=1)
    ends = {int(c[-1]): c for c in chunks}
    results: list[dict[str, Any]] = []
    worker_s: list[float] = []
    t_last = time.time()

    def collect(stream: Iterator[tuple[int, dict[str, Any], float]]) -> None:
        nonlocal t_last
        for position, result, seconds in stream:    # in task order (imap), so a shard ends at its last position
            results.append(result)
            worker_s.append(seconds)
            bar.update()
            if position in ends:
                now = time.time()
                _write_shard(folder, ends[position], results, worker_s, now - t_last, workers)
                results.clear()
                worker_s.clear()
                t_last = now

    try:
        if workers == 1:
            collect(work(t) for t in tasks)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            from concurrent.futures.process import BrokenProcessPool

            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
            try:
                collect(pool.map(work, tasks, chunksize=4))
            except BrokenProcessPool as exc:
                raise RuntimeError(f"a conformer worker process died (killed from outside, out of memory or a crash); "
                                   f"the finished shards in {folder} are kept: run the same command again to "
                                   "continue") from exc
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    finally:
        bar.close()


def _assemble(s: dict[str, np.ndarray], folder: Path) -> dict[str, np.ndarray]:
    """The set's flat arrays from the shards covering positions ``0..size-1`` of the sample ``s``.

    Shards hold consecutive positions and are read in position order, so the molecules of a shard below
    ``size`` are a prefix of it. The build's wall-clock is the shards' (a shard only partly used counts
    its share); ``build_worker_seconds`` sums each used molecule's own conformer time.
    """
    size = len(s["smiles"])
    parts = []
    for start, end, path in _shard_ranges(folder):
        if start < size:
            with np.load(path, allow_pickle=False) as f:
                parts.append((start, end, {k: f[k] for k in f.files}))
    covered = np.zeros(size, np.int64)
    for _, _, sh in parts:
        for key in ("position", "failed_position"):
            np.add.at(covered, sh[key][sh[key] < size], 1)
    assert (covered == 1).all(), f"shards in {folder} must cover every position below {size} exactly once"
    out: dict[str, list] = {k: [] for k in ("position", "energy", "numbers", "positions", "charges", "counts", "bonds",
                                            "nbonds", "failed_position", "failed_reason")}
    seconds = worker_seconds = 0.0
    workers = 0
    for start, end, sh in parts:
        k = int((sh["position"] < size).sum())                  # kept molecules: a prefix of the shard
        f = sh["failed_position"] < size
        a, b = int(sh["offsets"][k]), int(sh["bond_offsets"][k])
        out["position"].append(sh["position"][:k])
        out["energy"].append(sh["energy"][:k])
        out["numbers"].append(sh["numbers"][:a])
        out["positions"].append(sh["positions"][:a])
        out["charges"].append(sh["charges"][:a])
        out["counts"].append(np.diff(sh["offsets"][: k + 1]))
        out["bonds"].append(sh["bonds"][:b])
        out["nbonds"].append(np.diff(sh["bond_offsets"][: k + 1]))
        out["failed_position"].append(sh["failed_position"][f])
        out["failed_reason"].append(sh["failed_reason"][f])
        used = min(end, size) - start
        seconds += float(sh["seconds"]) * used / (end - start)
        worker_seconds += float(sh["worker_seconds"][:used].sum())
        workers = max(workers, int(sh["workers"]))
    cat = {key: np.concatenate(v) if v else np.zeros(0) for key, v in out.items()}
    pos, failed = cat["position"].astype(np.int64), cat["failed_position"].astype(np.int64)
    assert np.all(np.diff(pos) > 0)
    return {
        "position": pos, "moses_row": s["moses_row"][pos], "smiles": s["smiles"][pos], "split": s["split"][pos],
        "energy": cat["energy"].astype(np.float64),
        "numbers": cat["numbers"].astype(np.int8), "positions": cat["positions"].reshape(-1, 3).astype(np.float64),
        "charges": cat["charges"].astype(np.int8),
        "offsets": np.concatenate([[0], np.cumsum(cat["counts"])]).astype(np.int64),
        "bonds": cat["bonds"].reshape(-1, 3).astype(np.int32),
        "bond_offsets": np.concatenate([[0], np.cumsum(cat["nbonds"])]).astype(np.int64),
        "failed_position": failed, "failed_smiles": s["smiles"][failed],
        "failed_reason": cat["failed_reason"].astype(str),
        "build_seconds": np.array(seconds), "build_worker_seconds": np.array(worker_seconds),
        "build_workers": np.array(workers), "build_shards": np.array(len(parts)),
    }


def build(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, *, workers: int = DEFAULT_WORKERS,
          progress: bool = True, force: bool = False, shard_size: int = DEFAULT_SHARD_SIZE) -> Path:
    """Build the set (or find it in the cache) and return the cache file.

    Resumable: conformers are written in shards of ``shard_size`` molecules (atomically) to
    :func:`shard_dir`; a run that is stopped keeps its finished shards, and the next run (of this or any
    other ``size``) computes only the positions no shard holds. ``force`` deletes the shards and the
    assembled file of these settings first.

    Raises:
        ValueError: for ``workers < 1``, ``shard_size < 1``, a bad ``size``, or molecules that disagree with
            the committed split.
    """
    import shutil

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    path = cache_path(size, seed)
    folder = shard_dir(seed)
    if force:
        path.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    if path.exists():
        return path
    s = sample(size, seed)
    check_against_committed(s, seed)
    folder.mkdir(parents=True, exist_ok=True)
    have = np.zeros(size, bool)
    for start, end, _ in _shard_ranges(folder):
        have[start: min(end, size)] = True
    missing = np.flatnonzero(~have)
    if have.any() and len(missing):
        print(f"unite_mol: drug-like set: {int(have.sum())} of {size} molecules already in {folder}; "
              f"computing the other {len(missing)}", file=sys.stderr)
    t0 = time.time()
    _run(s, _chunks(missing, shard_size), folder, seed=seed, workers=workers, progress=progress)
    arrays = _assemble(s, folder)
    save_npz_atomic(path, **arrays)
    n_ok, n_bad = len(arrays["smiles"]), len(arrays["failed_smiles"])
    print(f"unite_mol: drug-like set of {n_ok} molecules ({n_bad} failed): {len(missing)} computed now in "
          f"{time.time() - t0:.0f} s with {workers} worker(s), {float(arrays['build_seconds']):.0f} s of wall-clock "
          f"over all sittings; cached at {path}", file=sys.stderr)
    return path


@lru_cache(maxsize=4)
def load_arrays(size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, *, workers: int = DEFAULT_WORKERS,
                progress: bool = True, shard_size: int = DEFAULT_SHARD_SIZE) -> dict[str, np.ndarray]:
    """The flat arrays of a build (building it first if needed)."""
    path = build(size, seed, workers=workers, progress=progress, shard_size=shard_size)
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

    def bond_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """The split's bonds as training labels, QM9's format (:mod:`unite_mol.data.bond_labels`):
        ``(bond_offsets (n + 1,), bond_rows (M, 3))``, rows ``(i, j, order)`` with ``i < j``, aromatic = 4."""
        starts = self._data["bond_offsets"][self._rows]
        ends = self._data["bond_offsets"][self._rows + 1]
        take = (np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if len(self._rows)
                else np.zeros(0, np.int64))
        rows = self._data["bonds"][take].astype(np.int64).reshape(-1, 3)
        rows[:, :2].sort(axis=1)
        return np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64), rows

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
    q = sub.add_parser("build", help="build the set into the cache (idempotent)")
    q.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"molecules to sample (default {DEFAULT_SIZE})")
    q.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling, split and ETKDG seed (default 0)")
    q.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="processes for conformer work (default 2)")
    q.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                   help=f"molecules per shard file, what a stopped build can lose (default {DEFAULT_SHARD_SIZE})")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--force", action="store_true", help="delete this build's shards and build from scratch")
    q = sub.add_parser("split", help="rewrite the committed split file from the seed (no conformers needed)")
    q.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"molecules (default {DEFAULT_SIZE})")
    q.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed (default 0)")
    q.add_argument("--out", default=str(REPO_SPLIT_FILE), help="the CSV to write")
    args = p.parse_args(argv)
    if getattr(args, "size", 1) < 1:
        p.error("--size must be at least 1")
    if getattr(args, "workers", 1) < 1:
        p.error("--workers must be at least 1")
    if getattr(args, "shard_size", 1) < 1:
        p.error("--shard-size must be at least 1")
    if args.command == "split":
        print(write_split_file(Path(args.out), size=args.size, seed=args.seed))
    else:
        print(build(args.size, args.seed, workers=args.workers, progress=not args.no_progress, force=args.force,
                    shard_size=args.shard_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
