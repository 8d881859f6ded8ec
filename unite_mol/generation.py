"""Generation of molecules: :func:`generate`, the API a chemist calls, over :class:`unite_mol.sampling.Sampler`.

``generate`` takes what a chemist asks for (how many, which seed and model, composition controls, bonds,
``valid_only``, ``relax``) and one ``sampler`` (a :class:`~unite_mol.sampling.SamplerConfig`, a dict of its
fields or a JSON file of them) for everything about the sampling process; the command line
(``python -m unite_mol generate``) builds its flags from the same two lists (:data:`REQUEST_HELP` and
:data:`unite_mol.sampling.config.HELP`), so a seed gives the same molecules from both.

Models on disk live in :mod:`unite_mol.model_io` (``load_model``, ``save_model``, ``build_model`` are
re-exported here).

What ``valid_only=True`` keeps: molecules whose bonds RDKit sanitises, that are one connected piece, have no
radical and no formal charge on any atom (:meth:`Molecule.invalid_reason` with ``neutral=True``): neutral,
closed-shell, one-piece structures, so zwitterions such as ``Nc1[c-]nc(=[OH+])cnc1`` are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from unite_mol.core.unite import UniteModel
from unite_mol.model_io import DEFAULT_GUIDE, DEFAULT_MODEL, PRETRAINED_DIR, build_model, load_model, save_model
from unite_mol.molecule import Molecule
from unite_mol.refiner import charges_from_bonds
from unite_mol.runtime import pick_device, progress_callback
from unite_mol.sampling import Sampler, SamplerConfig, SettingTypeError, formula_composition, sample_generator
from unite_mol.sampling.config import check_int
from unite_mol.sampling.sampler import resolve_valence_steps

__all__ = ["DEFAULT_GUIDE", "DEFAULT_MODEL", "PRETRAINED_DIR", "REQUEST_HELP", "build_model", "check_request",
           "formula_composition", "generate", "generate_arrays", "generate_samples", "load_model", "make_molecules",
           "resolve_valence_steps", "sample_generator", "save_model"]

#: bond choices of :func:`generate` (``None``: atoms only)
BOND_CHOICES = ("auto", "model", "edm", "rdkit", "openbabel")

#: help for each of generate()'s request parameters, read by the command line too
REQUEST_HELP = {
    "seed": "sample i depends on (seed, i) only",
    "num_atoms": "atoms per molecule, hydrogens included (default: drawn from the training data)",
    "formula": "every molecule's atoms, e.g. C7H10O2 (models whose denoiser is told the composition)",
    "num_heavy_atoms": "non-hydrogen atoms per molecule: a condition of the compositions drawn (element-conditioned "
                       "models), a filter otherwise",
    "bonds": "bonds: model (the bond head), auto (the head when the model has one, else openbabel), a perception "
             "method (edm, rdkit, openbabel) or none (atoms only)",
    "valid_only": "keep only usable molecules: they sanitise in RDKit, are one piece, have no radical and no "
                  "formal charge; more samples are drawn until n are found",
    "relax": "relax each molecule with RDKit's MMFF94 on its bonds (relax_* properties record the outcome)",
    "max_draws": "with valid_only (or num_heavy_atoms as a filter): give up after this many samples "
                 "(default max(100, 50 n))",
}


def check_request(n: int, *, seed: int, num_atoms: Any, formula: str | None, num_heavy_atoms: int | None,
                  bonds: str | None, valid_only: bool, relax: bool, first_index: int = 0,
                  max_draws: int | None = None) -> None:
    """Validate what :func:`generate` is asked for (types and ranges; no model needed).

    Raises:
        SettingTypeError: (a TypeError and a ValueError) a parameter of the wrong type, e.g. ``valid_only="no"``.
        ValueError: a value out of range or a contradiction, naming the parameter.
    """
    check_int("n", n, 0)
    check_int("seed", seed, 0)
    check_int("first_index", first_index, 0)
    for name, flag in (("valid_only", valid_only), ("relax", relax)):
        if not isinstance(flag, (bool, np.bool_)):
            raise SettingTypeError(f"{name} must be True or False, got {flag!r}")
    if bonds is not None and bonds not in BOND_CHOICES:
        raise ValueError(f"unknown bonds {bonds!r}; choose {', '.join(map(repr, BOND_CHOICES))} or None")
    if (relax or valid_only) and bonds is None:
        raise ValueError(f"{'relax' if relax else 'valid_only'}=True needs bonds; pass bonds='auto' (or a method)")
    if formula is not None:
        if not isinstance(formula, str):
            raise SettingTypeError(f"formula must be a string such as 'C7H10O2', got {formula!r}")
        if num_atoms is not None:
            raise ValueError("pass formula or num_atoms, not both (a formula fixes the atom count)")
    if num_heavy_atoms is not None:
        check_int("num_heavy_atoms", num_heavy_atoms, 1)
        if formula is not None:
            raise ValueError("pass formula or num_heavy_atoms, not both (a formula fixes the heavy atoms)")
        if isinstance(num_atoms, (int, np.integer)) and num_atoms < num_heavy_atoms:
            raise ValueError(f"num_atoms={num_atoms} cannot hold num_heavy_atoms={num_heavy_atoms}")
    if max_draws is not None:
        check_int("max_draws", max_draws, max(n, 1))
    if num_atoms is None or isinstance(num_atoms, (int, np.integer)) and not isinstance(num_atoms, (bool, np.bool_)):
        if num_atoms is not None:
            check_int("num_atoms", num_atoms, 1)
        return
    if isinstance(num_atoms, (str, bytes)) or not isinstance(num_atoms, (Sequence, np.ndarray)):
        raise SettingTypeError(f"num_atoms must be an int or a sequence of ints (one per sample), got "
                               f"{type(num_atoms).__name__}")
    if valid_only or num_heavy_atoms is not None:
        raise ValueError("valid_only / num_heavy_atoms may draw more samples than n, so num_atoms must be an int "
                         "or None")
    if len(num_atoms) != n:
        raise ValueError(f"num_atoms has {len(num_atoms)} entries for n={n} samples")
    for i, k in enumerate(num_atoms):
        check_int(f"num_atoms[{i}]", k, 1)


def prepare(model: UniteModel | str | Path | None, sampler: Any, *, device: str | torch.device,
            bonds: str | None, formula: str | None) -> tuple[Sampler, str | None]:
    """(a ready :class:`Sampler`, the bonds resolved: ``"auto"`` becomes ``"model"`` or ``"openbabel"``): the model
    loaded (``None``: the shipped one) and every model-dependent check made before any sample is drawn.

    Raises:
        ValueError: a bad model file or device, or a setting this model cannot take.
    """
    if isinstance(sampler, Sampler):
        ready = sampler
    else:
        config = SamplerConfig.coerce(sampler)      # validated before a model is loaded
        if model is not None and not isinstance(model, (str, Path, UniteModel)):
            raise SettingTypeError(f"model must be a UniteModel, a path or None, got {type(model).__name__}")
        dev = pick_device(device)
        model = load_model(model, device=dev) if model is None or isinstance(model, (str, Path)) \
            else model.to(dev).eval()
        ready = Sampler(model, config)
    has_head = bool(ready.model.adapter.config.bond_head)
    if bonds == "model" and not has_head:
        raise ValueError("bonds='model' needs a model with a bond head; this one has none (use 'auto' or a "
                         "perception method such as 'openbabel')")
    if formula is not None:
        formula_composition(ready.model, formula)       # fits this model (or warns): before any sampling
    return ready, ("model" if has_head else "openbabel") if bonds == "auto" else bonds


def to_molecules(sampler: Sampler, samples: list, *, seed: int, first_index: int, bonds: str | None) -> list[Molecule]:
    """Raw samples -> :class:`Molecule` objects carrying seed, index, precision, sampler and bonds' source."""
    out, description = [], sampler.describe()
    for i, (z, x, predicted) in enumerate(samples, first_index):
        props = {"seed": seed, "sample_index": i, "name": f"unite_mol_{seed}_{i}", "precision": sampler.precision,
                 "sampler": description}
        if bonds == "model":
            m = Molecule(z, x, bonds=predicted, charges=charges_from_bonds(z, predicted),
                         properties={**props, "bonds_from": "model"})
        else:
            m = Molecule(z, x, properties=props)
            if bonds is not None:
                m = m.with_bonds(bonds)
                m = m.replace(properties={**m.properties, "bonds_from": bonds})
        out.append(m)
    return out


def make_molecules(sampler: Sampler, n: int, *, seed: int = 0, first_index: int = 0,
                   num_atoms: int | Sequence[int] | None = None, formula: str | None = None,
                   num_heavy_atoms: int | None = None, bonds: str | None = "model", valid_only: bool = False,
                   max_draws: int | None = None, progress: bool | Callable[[int], None] = False) -> list[Molecule]:
    """Molecules ``first_index ..`` of ``seed`` from a ready sampler, bonds already resolved (see :func:`prepare`);
    with ``valid_only`` (or ``num_heavy_atoms`` on a model that does not draw compositions, where it is a filter)
    more samples are drawn, in sample order, until ``n`` are kept; each then records ``properties["drawn"]``.

    Raises:
        ValueError: when ``max_draws`` samples (default ``max(100, 50 n)``) do not give ``n`` molecules.
    """
    conditioned = bool(sampler.model.adapter.config.composition_hist)
    heavy_filter = num_heavy_atoms if not conditioned else None
    request = dict(num_atoms=num_atoms, formula=formula, num_heavy_atoms=num_heavy_atoms if conditioned else None)
    if not valid_only and heavy_filter is None:
        samples = sampler.run(n, seed=seed, first_index=first_index, progress=progress, **request)
        return to_molecules(sampler, samples, seed=seed, first_index=first_index, bonds=bonds)

    def keep(m: Molecule) -> bool:
        if heavy_filter is not None and int((m.numbers > 1).sum()) != heavy_filter:
            return False
        return not (valid_only and m.invalid_reason(neutral=True))

    limit = max_draws if max_draws is not None else max(100, 50 * n)
    update, bar = progress_callback(progress, n)
    mols: list[Molecule] = []
    drawn = 0
    try:
        while len(mols) < n:
            if drawn >= limit:
                raise ValueError(f"valid_only / num_heavy_atoms: {len(mols)} molecules of {n} kept after {drawn} "
                                 f"samples (max_draws={limit}); raise max_draws or check the model")
            rate = max(len(mols) / drawn, 0.05) if drawn else 1.0
            count = min(limit - drawn, max(1, int(np.ceil((n - len(mols)) / rate))))
            samples = sampler.run(count, seed=seed, first_index=first_index + drawn, **request)
            for m in to_molecules(sampler, samples, seed=seed, first_index=first_index + drawn, bonds=bonds):
                if len(mols) < n and keep(m):
                    mols.append(m)
                    if update is not None:
                        update(1)
            drawn += count
    finally:
        if bar is not None:
            bar.close()
    needed = mols[-1].properties["sample_index"] + 1 - first_index if mols else 0   # to the last one kept
    return [m.replace(properties={**m.properties, "drawn": needed}) for m in mols]


def generate(n: int, *, seed: int = 0, model: UniteModel | str | Path | None = None,
             sampler: SamplerConfig | Mapping[str, Any] | str | Path | Sampler | None = None,
             num_atoms: int | Sequence[int] | None = None, formula: str | None = None,
             num_heavy_atoms: int | None = None, bonds: str | None = "auto", valid_only: bool = False,
             relax: bool = False, device: str | torch.device = "auto",
             progress: bool | Callable[[int], None] = True) -> list[Molecule]:
    """Generate ``n`` molecules.

    Args:
        n: how many molecules (>= 0).
        seed: sample ``i`` depends on ``(seed, i)`` only (in fp32; see :mod:`unite_mol.sampling.sampler`).
        model: a loaded model, a path to one, a name (``"qm9"``, the shipped model; ``"druglike"``, not shipped
            yet: a ``FileNotFoundError`` says how to train one), or ``None`` for the shipped pretrained QM9 model.
        sampler: the sampling process: a :class:`~unite_mol.sampling.SamplerConfig`, a dict of its fields, a
            JSON file of them (an experiment's arm), a ready :class:`~unite_mol.sampling.Sampler` (it brings its
            model), or ``None`` for the defaults (200 stochastic steps, valence guidance by the model's own bond
            head; the model card has the numbers).
        num_atoms: atoms per molecule, hydrogens included (an int, or one per sample); default drawn from the
            training data (for a model told the composition: a training composition with that many atoms).
        formula: every molecule has these atoms, e.g. ``"C7H10O2"`` (a model told the composition). Fails before
            sampling outside the training range of atom and heavy-atom counts; warns for a composition the
            training data has (almost) never seen.
        num_heavy_atoms: non-hydrogen atoms per molecule. For a model told the composition it is a condition:
            compositions are drawn among the training data's with that many heavy atoms, and a count none has
            fails at once (naming the range). For other models it filters samples (each records ``drawn``).
        bonds: ``"model"`` (the bond head's orders), ``"auto"`` (those with a bond head, else Open Babel), a
            perception of the 3D coordinates (``"openbabel"``, ``"rdkit"``, ``"edm"``), or ``None`` (atoms only).
            ``properties["bonds_from"]`` records which.
        valid_only: keep only usable molecules, in sample order (still reproducible), drawing more samples until
            ``n`` are kept: bonds that RDKit sanitises, one connected piece, no radical, no formal charge (no
            zwitterions; :meth:`Molecule.invalid_reason` with ``neutral=True``). Each records
            ``properties["drawn"]``, the samples it took. Gives up after ``max(100, 50 n)`` samples.
        relax: relax each molecule with RDKit's MMFF94 on its bonds (:func:`unite_mol.relax.relax`; outcome in the
            ``relax_*`` properties). Off by default: benchmark numbers are of raw samples.
        device: ``"auto"`` (cuda, then mps, then cpu) or a device.
        progress: a progress bar on stderr (on a terminal; ``UNITE_MOL_NO_PROGRESS=1`` hides it), ``False``, or
            a callable given the number of molecules finished.

    Returns:
        ``Molecule`` objects (``.to_rdkit()`` / ``.to_ase()``); each carries ``properties["seed"]``,
        ``["sample_index"]``, ``["precision"]``, ``["sampler"]`` and, with bonds, ``["bonds_from"]``.

    Raises:
        SettingTypeError: (a TypeError and a ValueError) a parameter or sampler field of the wrong type.
        ValueError: a bad value (all are checked before a model is loaded or a sample drawn), a request the
            model's training data cannot meet, or a bad model file.
        FileNotFoundError: a model file that does not exist (for a named model, with how to get it).
    """
    check_request(n, seed=seed, num_atoms=num_atoms, formula=formula, num_heavy_atoms=num_heavy_atoms, bonds=bonds,
                  valid_only=valid_only, relax=relax)
    ready, bonds = prepare(model, sampler, device=device, bonds=bonds, formula=formula)
    wanted = [num_atoms] if isinstance(num_atoms, (int, np.integer)) else list(num_atoms or [])
    max_atoms = ready.model.adapter.config.max_atoms
    if any(k > max_atoms for k in wanted):
        raise ValueError(f"num_atoms {max(wanted)} requested; this model supports 1..{max_atoms} atoms")
    mols = make_molecules(ready, n, seed=seed, num_atoms=num_atoms, formula=formula, num_heavy_atoms=num_heavy_atoms,
                          bonds=bonds, valid_only=valid_only, progress=progress)
    if relax:
        from unite_mol.relax import relax as relax_molecules

        mols = relax_molecules(mols)
    return mols


def generate_samples(model: UniteModel, n: int, *, seed: int = 0, first_index: int = 0,
                     num_atoms: int | Sequence[int] | None = None, formula: str | None = None,
                     sampler: SamplerConfig | Mapping[str, Any] | str | Path | None = None,
                     progress: bool | Callable[[int], None] = False) -> list[tuple[np.ndarray, np.ndarray, Any]]:
    """Raw samples of a loaded model: (atomic numbers, positions, predicted bond rows or ``None``) each.

    Raises:
        ValueError: for a bad setting or an atom count the model does not support.
    """
    check_request(n, seed=seed, num_atoms=num_atoms, formula=formula, num_heavy_atoms=None, bonds=None,
                  valid_only=False, relax=False, first_index=first_index)
    return Sampler(model, sampler).run(n, seed=seed, first_index=first_index, num_atoms=num_atoms, formula=formula,
                                       progress=progress)


def generate_arrays(model: UniteModel, n: int, *, seed: int = 0, num_atoms: int | Sequence[int] | None = None,
                    sampler: SamplerConfig | Mapping[str, Any] | str | Path | None = None,
                    progress: bool | Callable[[int], None] = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Raw samples without bonds: (atomic numbers, positions) each.

    Raises:
        ValueError: for a bad setting.
    """
    return [(z, x) for z, x, _ in generate_samples(model, n, seed=seed, num_atoms=num_atoms, sampler=sampler,
                                                   progress=progress)]
