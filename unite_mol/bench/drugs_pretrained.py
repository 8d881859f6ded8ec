"""``python -m unite_mol.bench drugs --preset pretrained``: a saved drug-like model scored on its test split.

No training. ``--model NAME_OR_PATH`` (default ``druglike``, which will be the shipped
``unite_mol/pretrained/unite-druglike``; **no drug-like model is shipped yet**, and a missing model stops the
bench with exit code 2 and a message naming the file and the command that trains one) generates
``--samples`` molecules with :func:`unite_mol.generate` at the sampler's defaults (the model's bond head gives
the bonds when it has one). The data are those the model was trained on (its sidecar's ``training.dataset``,
checked against the recorded data fingerprint) unless ``--dataset`` names others. Each row is scored by the
same code:

* validity, valid+connected, uniqueness and novelty (against the training split's SMILES) under the **Open
  Babel protocol** and under the **model's own bonds** (the ``bonds`` protocol of
  :func:`unite_mol.metrics.evaluate`: an aromatic bond counts 1.5 towards an atom's valence, as in Nikitin et
  al. 2025, :mod:`unite_mol.metrics.bond_protocol`), with atom and molecule stability there;
* the physical yardstick of :func:`unite_mol.metrics.physics.physics_metrics`: GFN2-xTB relaxation energy,
  bond and angle change of the first ``--xtb-n`` samples that are valid and connected under the Open Babel
  protocol (EDM's valence tables fail on drug-sized molecules), PoseBusters with the own and with Open Babel
  bonds and the usable shares on the first ``--pb-n``, W1 of bond lengths and angles against the reference
  part of the test split;
* MMFF94 strain of the first ``--mmff-n`` samples (Open Babel bonds) and FCD of the Open-Babel-valid SMILES
  against the reference part of the test split (:mod:`unite_mol.metrics.drugs`);
* the share of samples holding F, S, Cl and Br;
* time: generating the first 200 molecules (a separate :func:`~unite_mol.generate` call; the rest continue the
  same seed's sample indices, so the set is the one ``generate(samples)`` gives) and scoring each row.

The calibration row is the test split's last ``min(samples, half)`` molecules with their own bonds; every
W1 and FCD is taken against the test split's other molecules, so no row is compared with itself. Below the
tables: published median GFN2-xTB relaxation energies on **GEOM-drugs** (Nikitin et al. 2025, as quoted in
issue 26), labelled as a different data set: the drug-like set is MOSES SMILES with ETKDG + MMFF94 structures,
not GEOM's CREST conformers, so they are context, not a comparison. Results as ``bench drugs``
(``results.md``, ``results.csv``, ``configs.json``, ``machine.json``) plus ``published.csv``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: median GFN2-xTB relaxation energy (kcal/mol) on GEOM-drugs, Nikitin et al. 2025, as quoted in issue 26
PUBLISHED = [("VEDA-S", 1.7), ("Megalodon-quick", 3.2), ("JODO", 4.7), ("EQGAT-diff", 6.4), ("FlowMol2", 17.9),
             ("Megalodon-flow", 20.9), ("SemlaFlow", 32.3)]
PUBLISHED_LABEL = "GEOM-drugs, published, not this data set"
PUBLISHED_SOURCE = ("Nikitin et al. 2025 (GEOM-Drugs Revisited), median GFN2-xTB relaxation energy, "
                    "as quoted in issue 26")
REPO = Path(__file__).resolve().parents[2]
ELEMENTS = {"F": 9, "S": 16, "Cl": 17, "Br": 35}
TIMED = 200                 # molecules whose generation is timed on its own
XTB_VALID_BY = "openbabel"  # the protocol that picks the molecules xTB relaxes
XTB_N, PB_N, MMFF_N = 100, 200, 200

COLUMNS = [("gen/openbabel/validity", "valid % (Open Babel)"),
           ("gen/openbabel/connected", "valid+connected % (Open Babel)"),
           ("gen/openbabel/uniqueness", "unique % (Open Babel)"), ("gen/openbabel/novelty", "novel % (Open Babel)"),
           ("gen/bonds/atom_stability", "atom stab % (own bonds)"),
           ("gen/bonds/mol_stability", "mol stab % (own bonds)"),
           ("gen/bonds/validity", "valid % (own bonds)"), ("gen/bonds/connected", "valid+connected % (own bonds)"),
           ("gen/bonds/uniqueness", "unique % (own bonds)"), ("gen/bonds/novelty", "novel % (own bonds)"),
           ("drugs/n", "MMFF n"), ("drugs/mmff_strain_median_kcal", "MMFF strain median kcal/mol"),
           ("drugs/fcd", "FCD (test)"), *[(f"elements/{e}", f"{e} %") for e in ELEMENTS],
           ("speed/gen_200_s", "s for 200 molecules"), ("speed/gen_s", "generation s")]

NOTES = ["Open Babel protocol: bonds perceived by Open Babel, the whole molecule sanitised by RDKit. Own bonds: the",
         "model's bond head (the data row: the data's bonds), an aromatic bond counting 1.5 (Nikitin et al. 2025).",
         "`valid+connected %` of all molecules; `unique %` of valid ones; `novel %` of valid (Open Babel) or unique",
         "valid (own bonds) ones, against the training split's SMILES. MMFF94 strain with Open Babel bonds. FCD and",
         "W1 against the test split's molecules outside the data row (FCD is biased upwards at small sizes: compare",
         "rows of equal size). `X %`: samples holding element X. `wall s`: scoring time of the row (generation",
         "excluded). `-` = not measured. No formal charges: the model has no charge head."]

PHYSICS_CAPTION = ("Physics (GFN2-xTB relaxation of the first samples valid and connected under the Open Babel "
                   "protocol, PoseBusters `mol` checks, usable = sanitisable, one piece, no radicals; W1 to the "
                   "test split's reference molecules with Open Babel bonds on both sides; unite_mol.metrics.physics):")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``--preset pretrained`` (the bench's parser holds the rest)."""
    g = p.add_argument_group("--preset pretrained (no training)")
    g.add_argument("--model", default="druglike", help="saved model: a name (druglike, qm9) or a path")
    g.add_argument("--xtb-n", type=int, default=XTB_N, help="valid+connected (Open Babel) samples relaxed with xTB")
    g.add_argument("--pb-n", type=int, default=PB_N, help="samples checked by PoseBusters (0: all)")
    g.add_argument("--mmff-n", type=int, default=MMFF_N, help="samples whose MMFF94 strain is measured (0: all)")
    g.add_argument("--workers", type=int, default=2, help="processes for xTB and PoseBusters")


def pretrained_flags(args: argparse.Namespace) -> list[str]:
    """The flags of ``--preset pretrained`` given away from their defaults (the training presets refuse them)."""
    defaults = {"model": "druglike", "xtb_n": XTB_N, "pb_n": PB_N, "mmff_n": MMFF_N, "workers": 2}
    return [f"--{k.replace('_', '-')}" for k, v in defaults.items() if getattr(args, k) != v]


def check_args(args: argparse.Namespace) -> None:
    """Refuse training flags and bad counts.

    Raises:
        ValueError: naming the flag.
    """
    training = {"--entries": args.entries != "unite,two-stage", "--budget": args.budget is not None,
                "--steps": args.steps is not None, "--drug-samples": args.drug_samples is not None,
                "--size": args.size is not None, "--xtb": args.xtb,
                "--geom-split-pickles / --geom-rdkit-folder": bool(args.geom_split_pickles or args.geom_rdkit_folder)}
    given = [flag for flag, on in training.items() if on]
    if given:
        raise ValueError("--preset pretrained trains nothing and samples at generate()'s defaults; drop "
                         f"{', '.join(given)} "
                         "(data: --dataset NAME, e.g. druglike:SIZE or geom:FOLDER)")
    if args.samples is not None and args.samples < 1:
        raise ValueError("--samples must be at least 1")
    if min(args.xtb_n, args.pb_n, args.mmff_n) < 0 or args.workers < 1:
        raise ValueError("--xtb-n, --pb-n and --mmff-n must be >= 0, --workers >= 1")


# ---------------------------------------------------------------------------------------------- scoring
def mmff_and_fcd(mols: Sequence[Any], valid_smiles: list[str], reference_smiles: list[str],
                 mmff_n: int | None) -> dict[str, float]:
    """MMFF94 strain of the first ``mmff_n`` molecules with Open Babel bonds (those Open Babel cannot perceive
    count in ``drugs/mmff_unperceived``) and FCD of ``valid_smiles`` against ``reference_smiles``."""
    from unite_mol.metrics.drugs import drug_metrics, fcd_score
    from unite_mol.molecule import Molecule

    perceived, unperceived = [], 0
    for m in mols[:mmff_n]:
        try:
            perceived.append(Molecule(m.numbers, m.positions).with_bonds("openbabel"))
        except (ValueError, RuntimeError):
            unperceived += 1
    out = {"drugs/n": 0.0, "drugs/mmff_unperceived": float(unperceived)}
    if perceived:
        out.update(drug_metrics(perceived, measures=("mmff",)).metrics)
    ok = len(valid_smiles) >= 2 and len(reference_smiles) >= 2
    out["drugs/fcd"] = fcd_score(valid_smiles, reference_smiles) if ok else math.nan
    out["drugs/fcd_valid"] = float(len(valid_smiles))
    return out


def element_shares(mols: Sequence[Any]) -> dict[str, float]:
    """The share of molecules holding at least one atom of each of :data:`ELEMENTS`."""
    return {f"elements/{e}": float(np.mean([bool((m.numbers == z).any()) for m in mols])) if mols else math.nan
            for e, z in ELEMENTS.items()}


def score(mols: Sequence[Any], ctx: dict[str, Any], args: argparse.Namespace, *, own_bonds: bool) -> dict[str, float]:
    """Every measure of a row (see the module docstring); ``ctx`` holds the references."""
    from unite_mol.bench.qm9_eval import physics_eval
    from unite_mol.bench.report import phase
    from unite_mol.metrics import evaluate

    t0 = time.time()
    protocols = ("openbabel", "bonds") if own_bonds else ("openbabel",)
    with phase(f"scoring {len(mols)} molecules ({' and '.join(protocols)} protocols)"):
        res = evaluate(mols, reference=ctx["train_smiles"], protocols=protocols)
    row = {f"gen/{k}": v for k, v in res.metrics.items() if not k.startswith("edm/")}
    valid = [s for s, ok in zip(res.records["openbabel_smiles"], res.records["openbabel_valid"]) if ok]
    with phase(f"physics: xTB (up to {args.xtb_n}), PoseBusters (up to {args.pb_n or len(mols)}), W1"):
        row.update(physics_eval(list(mols), ctx["geometry"], xtb_n=args.xtb_n, pb_n=args.pb_n or None,
                                workers=args.workers, valid_by=XTB_VALID_BY))
    with phase(f"MMFF strain (up to {args.mmff_n or len(mols)}) and FCD ({len(valid)} valid SMILES)"):
        row.update(mmff_and_fcd(mols, valid, ctx["reference_smiles"], args.mmff_n or None))
    row.update(element_shares(mols))
    row["wall_s"] = time.time() - t0
    return row


def generate_timed(model, n: int, *, seed: int) -> tuple[list, dict[str, float]]:
    """``n`` molecules of :func:`unite_mol.generate` at its defaults, the first :data:`TIMED` timed on their own
    (the rest are the same seed's next sample indices: the set ``generate(n)`` gives)."""
    from unite_mol.generation import generate, make_molecules, prepare

    bonds = "model" if model.adapter.config.bond_head else None
    k = min(TIMED, n)
    t0 = time.perf_counter()
    mols = generate(k, seed=seed, model=model, bonds=bonds, progress=False)
    t_k = time.perf_counter() - t0
    if n > k:
        ready, resolved = prepare(model, None, device="auto", bonds=bonds, formula=None)
        mols += make_molecules(ready, n - k, seed=seed, first_index=k, bonds=resolved)
    t_all = time.perf_counter() - t0
    return mols, {"speed/gen_first_n": float(k), "speed/gen_first_s": t_k,
                  "speed/gen_200_s": t_k if k == TIMED else math.nan, "speed/gen_s": t_all,
                  "speed/sample_mol_per_s": n / t_all}


# ---------------------------------------------------------------------------------------------- data
def dataset_of(args: argparse.Namespace, meta: dict) -> tuple[str, int | None]:
    """The data set's name (``--dataset``, else the one the model was trained on) and the drug-like set's seed
    when the recorded name carries one (``"druglike:2000 (seed 3)"``).

    Raises:
        ValueError: when neither names a data set.
    """
    import re

    name = args.dataset or meta.get("training", {}).get("dataset")
    if not name:
        raise ValueError(f"the model {args.model} records no training dataset; name the data with --dataset NAME "
                         "(druglike, druglike:SIZE or geom:FOLDER)")
    seeded = re.fullmatch(r"(.*) \(seed (\d+)\)", str(name))
    return (seeded.group(1), int(seeded.group(2))) if seeded else (str(name), None)


def load(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """The model, the data set (train and test splits loaded) and notes on both.

    Raises:
        FileNotFoundError: for a missing model (the message names the file and how to get one) or data folder.
        ValueError: for a bad model file or data set name.
    """
    from unite_mol.bench.drugs_data import bench_splits
    from unite_mol.data.sets import training_set
    from unite_mol.model_io import load_model, resolve_model

    model = load_model(args.model)
    meta = getattr(model, "meta", {}) or {}
    name, seed = dataset_of(args, meta)
    data = training_set(name, seed=seed, workers=None, progress=False, skip_charged=args.skip_charged,
                        geom_conformers=args.geom_conformers, geom_limit=args.geom_limit, trusted=args.trusted)
    splits, notes = bench_splits(data)
    recorded = meta.get("training", {}).get("data_fingerprint")
    notes.update(dataset=data.name, model=str(resolve_model(args.model)[0]), data_fingerprint=data.fingerprint(),
                 model_data_fingerprint=recorded, data_matches_model=recorded == data.fingerprint(),
                 train=len(splits["train"]), test=len(splits["test"]))
    if not notes["data_matches_model"]:
        print(f"[bench drugs] warning: the model was trained on data with fingerprint {recorded!r}; these data have "
              f"{data.fingerprint()!r} (novelty and the test split may not be the model's)", flush=True)
    return model, splits, notes


def context(splits: dict, n_data: int) -> tuple[list, dict[str, Any]]:
    """The data row's molecules (the test split's last ``n_data``) and the references every row is scored
    against: training SMILES (novelty), the test split's other molecules (W1) and their SMILES (FCD)."""
    from unite_mol.bench.drugs_data import canonical_smiles
    from unite_mol.metrics.drugs import molecule_smiles
    from unite_mol.metrics.physics import geometry_values

    test = splits["test"]
    cut = len(test) - n_data
    reference = [test[k] for k in range(cut)]
    smiles = getattr(test, "smiles", None)
    ref_smiles = ([str(s) for s in smiles[:cut]] if smiles is not None
                  else [s for s in map(molecule_smiles, reference) if s is not None])
    ctx = {"train_smiles": canonical_smiles(splits["train"].smiles), "geometry": geometry_values(reference),
           "reference_smiles": ref_smiles}
    return [test[k] for k in range(cut, len(test))], ctx


# ---------------------------------------------------------------------------------------------- report
def published_lines(rows: list[dict]) -> list[str]:
    """The published GEOM-drugs rows, labelled as another data set, beside this run's xTB medians."""
    from unite_mol.bench.report import fmt

    lines = [f"Median GFN2-xTB relaxation energy beside published rows ({PUBLISHED_LABEL}; {PUBLISHED_SOURCE}; "
             "quoted, not re-run). GEOM-drugs holds CREST conformers of GEOM molecules, the drug-like set MOSES "
             "SMILES with ETKDG + MMFF94 structures, and the published protocol's details (which samples are "
             "relaxed, xTB settings) are theirs: context, not a comparison.", "",
             "| system | data set | xTB relax median kcal/mol |", "|---|---|---|"]
    lines += [f"| {r['entry']} | this run | {fmt(r.get('phys/xtb/relax_median_kcal'), False)} |" for r in rows]
    lines += [f"| {name} [{PUBLISHED_LABEL}] | GEOM-drugs | {value} |" for name, value in PUBLISHED]
    return lines + [""]


def write_published(out: Path) -> None:
    import pandas as pd

    pd.DataFrame([{"system": name, "label": PUBLISHED_LABEL, "dataset": "GEOM-drugs", "xtb_relax_median_kcal": v,
                   "source": PUBLISHED_SOURCE} for name, v in PUBLISHED]).to_csv(out / "published.csv", index=False)


def model_label(args: argparse.Namespace, model) -> str:
    from unite_mol.bench.qm9 import conditioning_label
    from unite_mol.model_io import NAMED_MODELS

    name = f"unite-{args.model}" if args.model in NAMED_MODELS else Path(args.model).name
    return f"{name} (generate() defaults)" + conditioning_label(model)


# ---------------------------------------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    """``bench drugs --preset pretrained`` (the module docstring); 2 for bad flags, a missing model or data."""
    from unite_mol.bench.report import phase, write_results
    from unite_mol.runtime import machine_info
    from unite_mol.sampling import Sampler, SamplerConfig

    t_start = time.time()
    try:
        check_args(args)
        model, splits, notes = load(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = args.samples or 1000
    n_data = min(n, len(splits["test"]) // 2)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = Path(args.out) if args.out else REPO / "runs" / "bench-results" / f"drugs-pretrained-{stamp}"
    sampler = Sampler(model, SamplerConfig())
    name = model_label(args, model)
    print(f"[bench drugs] preset pretrained: {name}; data {notes['dataset']}: {notes['train']} train / "
          f"{notes['test']} test molecules; results -> {out}", flush=True)
    data_mols, ctx = context(splits, n_data)
    configs: dict[str, Any] = {
        "preset": "pretrained", "model": args.model, "model_meta": model.meta, "samples": n, "seed": args.seed,
        "sampler": {**SamplerConfig().to_dict(), "valence_steps": sampler.valence_steps, "text": sampler.describe()},
        "data": notes, "data_row": n_data, "reference_molecules": len(splits["test"]) - n_data,
        "xtb_n": args.xtb_n, "xtb_valid_by": XTB_VALID_BY, "pb_n": args.pb_n, "mmff_n": args.mmff_n,
        "workers": args.workers, "published": {"label": PUBLISHED_LABEL, "source": PUBLISHED_SOURCE}}
    print("[bench drugs] calibration row: the test split's own molecules and bonds through the same code", flush=True)
    rows = [{"entry": f"test data: {n_data} of the {notes['dataset']} test split [calibration]",
             **score(data_mols, ctx, args, own_bonds=True)}]
    with phase(f"generating {n} molecules with generate() at its defaults ({sampler.describe()})"):
        samples, speed = generate_timed(model, n, seed=args.seed)
    print(f"[bench drugs] first {min(TIMED, n)} molecules in {speed['speed/gen_first_s']:.1f} s; all {n} in "
          f"{speed['speed/gen_s']:.1f} s", flush=True)
    rows.append({"entry": name, **speed, "params": int(sum(p.numel() for p in model.parameters())),
                 **score(samples, ctx, args, own_bonds=bool(model.adapter.config.bond_head))})
    machine = machine_info()
    machine["wall_s"] = time.time() - t_start
    write_results(out, rows, configs, machine, title="Drug-sized molecules: a saved model", columns=COLUMNS,
                  notes=NOTES, anchors=False, physics_caption=PHYSICS_CAPTION, extra=published_lines(rows))
    write_published(out)
    print((out / "results.md").read_text())
    return 0
