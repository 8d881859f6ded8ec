"""QM9 offline, from the ``qm9pack`` package's CSV files.

``qm9pack==1.0.3`` (MIT) ships the 130,831 QM9 molecules that EDM, GeoLDM and ADiT use (the 3,054
uncharacterised molecules already removed) as three CSV files. We read them through ``importlib`` (the
package itself is never imported: its ``__init__`` needs ``pkg_resources``), parse them once into
flat arrays and keep those in the processed cache (:mod:`unite_mol.data.cache`), keyed by a fingerprint
of the raw files and the processing version. Loading after the first time takes about a second.

The split follows the procedure of the field's QM9 split (Cormorant, reused by EDM): molecules ordered
by their GDB index, ``numpy.random.RandomState(0).permutation``, then 100,000 train / 17,748 validation /
13,083 test. (We follow the published procedure; the field's own index files could not be compared here.)
The split, as GDB indices, is committed at ``datasets/qm9/split.npz``; its SHA-256 is pinned below, so an
installed package that regenerates it verifies it is the same.

Usage::

    from unite_mol.data import qm9
    test = qm9("test")          # a Sequence of Molecule, with properties (smiles, inchi, index, ...)
    test[0].properties["smiles"]
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from functools import lru_cache
from pathlib import Path


import numpy as np

from unite_mol import elements
from unite_mol.data.flat import FlatSplit
from unite_mol.data.cache import cache_dir, fingerprint, save_npz_atomic
from unite_mol.data.qm9_pack_read import load_pack, pack_path
from unite_mol.molecule import Molecule

NUM_MOLECULES = 130_831
SPLIT_SIZES = {"train": 100_000, "valid": 17_748, "test": 13_083}
SPLIT_SEED = 0
#: SHA-256 of the GDB-index arrays of the split (train, valid, test concatenated as little-endian int64).
SPLIT_SHA256 = "9dda2ee7c80a182060cc22097ea7d700240f74a304fd124c925375dcd0170361"
PROCESSING_VERSION = 1
RAW_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")

#: Scalar QM9 properties kept, with the qm9pack column names (units in the names).
PROPERTY_COLUMNS = (
    "RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au",
    "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au", "InternalEnergy_0K_au", "InternalEnergy_298K_au",
    "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K",
)

REPO_SPLIT_FILE = Path(__file__).resolve().parents[2] / "datasets" / "qm9" / "split.npz"


def raw_dir() -> Path:
    """The folder holding qm9pack's CSV files (found without importing qm9pack).

    Raises:
        FileNotFoundError: if ``qm9pack`` is not installed (``pip install qm9pack==1.0.3``).
    """
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("QM9 comes from the qm9pack package, which is not installed: "
                                "pip install qm9pack==1.0.3")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    missing = [f for f in RAW_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"qm9pack is installed but {folder} lacks {missing}; reinstall qm9pack==1.0.3")
    return folder


def _raw_fingerprint(folder: Path) -> dict:
    return {f: (folder / f).stat().st_size for f in RAW_FILES}


def _parse_elements(text: str) -> np.ndarray:
    symbols = [s.strip().strip("'\"") for s in text.strip().strip("[]").split(",")]
    return np.array([elements.atomic_number(s) for s in symbols], dtype=np.int8)


def _parse_xyz(text: str, n: int) -> np.ndarray:
    flat = np.array(text.replace("[", "").replace("]", "").split(","), dtype=np.float64)
    if flat.size != 3 * n:
        raise ValueError(f"XYZ_Ang has {flat.size} numbers for {n} atoms")
    return flat.reshape(n, 3)


def _process(folder: Path, show_progress: bool = True) -> dict[str, np.ndarray]:
    import pandas as pd

    frames = []
    for name in RAW_FILES:
        if show_progress:
            print(f"unite_mol: parsing {folder / name} (first use only)", file=sys.stderr)
        frames.append(pd.read_csv(folder / name))
    df = pd.concat(frames, ignore_index=True).sort_values("Index", kind="stable").reset_index(drop=True)
    if len(df) != NUM_MOLECULES:
        raise ValueError(f"qm9pack files hold {len(df)} molecules, expected {NUM_MOLECULES}")
    if df["Index"].duplicated().any():
        raise ValueError("qm9pack files repeat a GDB index")
    numbers, positions, counts = [], [], []
    for row, (el, xyz) in enumerate(zip(df["Elements"], df["XYZ_Ang"])):
        z = _parse_elements(el)
        try:
            pos = _parse_xyz(xyz, len(z))
        except ValueError as exc:
            raise ValueError(f"qm9pack molecule with GDB index {df['Index'][row]}: {exc}") from exc
        numbers.append(z)
        positions.append(pos)
        counts.append(len(z))
    counts = np.array(counts, dtype=np.int64)
    if not np.array_equal(counts, df["N_atoms"].to_numpy()):
        raise ValueError("qm9pack N_atoms disagrees with the Elements column")
    return {
        "gdb_index": df["Index"].to_numpy(np.int64),
        "numbers": np.concatenate(numbers),
        "positions": np.concatenate(positions),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "smiles": df["SMILES"].to_numpy(dtype=str),
        "inchi": df["InChi"].to_numpy(dtype=str),
        "properties": df[list(PROPERTY_COLUMNS)].to_numpy(np.float64),
    }


@lru_cache(maxsize=1)
def load_all() -> dict[str, np.ndarray]:
    pack = pack_path()
    if pack is not None:                       # a machine without qm9pack (unite_mol.data.qm9_pack)
        return load_pack(pack, PROPERTY_COLUMNS)
    folder = raw_dir()
    key = fingerprint({"raw": _raw_fingerprint(folder), "version": PROCESSING_VERSION})
    path = cache_dir() / f"qm9-{key}.npz"
    if not path.exists():
        t0 = time.time()
        arrays = _process(folder)
        save_npz_atomic(path, **arrays)
        print(f"unite_mol: QM9 processed in {time.time() - t0:.0f} s, cached at {path}", file=sys.stderr)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def make_split(gdb_index: np.ndarray) -> dict[str, np.ndarray]:
    """The seeded split as GDB indices (see the module docstring for the procedure)."""
    order = np.sort(np.asarray(gdb_index, dtype=np.int64))
    if order.size != NUM_MOLECULES:
        raise ValueError(f"the split is defined for {NUM_MOLECULES} molecules, got {order.size}")
    perm = np.random.RandomState(SPLIT_SEED).permutation(order.size)
    a = SPLIT_SIZES["train"]
    b = a + SPLIT_SIZES["valid"]
    return {"train": order[perm[:a]], "valid": order[perm[a:b]], "test": order[perm[b:]]}


def split_sha256(split: dict[str, np.ndarray]) -> str:
    blob = b"".join(np.ascontiguousarray(split[k], dtype="<i8").tobytes() for k in ("train", "valid", "test"))
    return hashlib.sha256(blob).hexdigest()


@lru_cache(maxsize=1)
def _split() -> dict[str, np.ndarray]:
    if REPO_SPLIT_FILE.is_file():
        with np.load(REPO_SPLIT_FILE, allow_pickle=False) as f:
            split = {k: f[k] for k in ("train", "valid", "test")}
    else:
        split = make_split(load_all()["gdb_index"])
    digest = split_sha256(split)
    if digest != SPLIT_SHA256:
        raise ValueError(f"the QM9 split does not match the pinned one (sha256 {digest} != {SPLIT_SHA256}); "
                         f"{REPO_SPLIT_FILE} or the split procedure changed")
    return split


class QM9Split(FlatSplit):
    """One split of QM9 as a sequence of :class:`Molecule` built on access.

    Flat arrays are exposed for fast batching: ``numbers`` and ``positions`` (all atoms concatenated),
    ``offsets`` (molecule ``k`` is ``offsets[k]:offsets[k+1]``), ``num_atoms``, ``smiles``, ``inchi``,
    ``gdb_index`` and ``properties`` (an ``(n, len(PROPERTY_COLUMNS))`` array).
    """

    label = "QM9"

    def __init__(self, name: str, rows: np.ndarray, data: dict[str, np.ndarray]):
        self.name = name
        self._select(data, rows)
        self.inchi = data["inchi"][rows]
        self.gdb_index = data["gdb_index"][rows]
        self.properties = data["properties"][rows]

    def molecule(self, k: int) -> Molecule:
        s, e = self.offsets[k], self.offsets[k + 1]
        props = {"smiles": str(self.smiles[k]), "inchi": str(self.inchi[k]), "gdb_index": int(self.gdb_index[k]),
                 "name": f"gdb_{int(self.gdb_index[k])}", "dataset": "qm9"}
        props.update({c: float(v) for c, v in zip(PROPERTY_COLUMNS, self.properties[k])})
        return Molecule(self.numbers[s:e], self.positions[s:e], properties=props)

    def __repr__(self) -> str:
        return f"QM9Split({self.name!r}, {len(self)} molecules, {int(self.num_atoms.sum())} atoms)"


@lru_cache(maxsize=4)
def qm9(split: str) -> QM9Split:
    """One split of QM9: ``"train"`` (100,000), ``"valid"`` (17,748) or ``"test"`` (13,083) molecules.

    The first call parses qm9pack's CSV files (about a minute) into the cache directory; later calls
    load the cache in about a second.

    Raises:
        ValueError: for an unknown split name.
        FileNotFoundError: if ``qm9pack`` is not installed.
    """
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown QM9 split {split!r}; choose one of {sorted(SPLIT_SIZES)}")
    data = load_all()
    wanted = _split()[split]
    rows = np.searchsorted(data["gdb_index"], wanted)
    if (rows >= len(data["gdb_index"])).any() or not np.array_equal(data["gdb_index"][rows], wanted):
        raise ValueError("the QM9 split names GDB indices that the qm9pack files do not hold")
    return QM9Split(split, rows, data)


def _write_split_file(path: Path = REPO_SPLIT_FILE) -> str:
    """Regenerate ``datasets/qm9/split.npz`` from the seed (used once, by hand) and return its hash."""
    split = make_split(load_all()["gdb_index"])
    save_npz_atomic(path, **split)
    return split_sha256(split)



def canonical_smiles(smiles: str) -> str | None:
    """Canonical SMILES without stereo and without explicit hydrogens; None when RDKit cannot parse it."""
    from rdkit import Chem

    m = Chem.MolFromSmiles(smiles)
    if m is None:
        return None
    Chem.RemoveStereochemistry(m)
    return Chem.MolToSmiles(m)


def training_smiles() -> set[str]:
    """Canonical SMILES of the training split (QM9's own, stereo removed): the novelty reference."""
    out = set()
    for s in qm9("train").smiles:
        c = canonical_smiles(str(s))
        if c is not None:
            out.add(c)
    return out


def data_fingerprint() -> str:
    """``"qm9pack-<installed version> split sha256 <SPLIT_SHA256>"``: the data a model was trained on."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        source = version("qm9pack")
    except PackageNotFoundError:
        source = "unknown"
    if pack_path() is not None:
        source += " (from a unite_mol QM9 pack)"
    return f"qm9pack-{source} split sha256 {SPLIT_SHA256}"
