"""``python -m unite_mol.bench drugs``: UNITE against the two-stage VAE-latent baseline on drug-sized molecules.

Presets ``smoke`` / ``cpu`` / ``gpu`` (as ``bench qm9``): every entry (default ``unite`` and ``two-stage``;
any of :data:`unite_mol.core.entry.ENTRIES`) is trained from scratch through
:func:`unite_mol.core.entry.train_entry` (via :func:`unite_mol.bench.qm9_train.train_entry`) at **equal
wall-clock on this machine**, with the same augmentation (random rotations), flow settings and FLOPs
accounting, then measured the same way:

* reconstruction of the first ``recon`` test molecules: element accuracy, InChI match after Open Babel
  perception (ADiT's), aligned (Kabsch) RMSD over matched molecules, and the rotation error;
* generation of ``samples`` molecules under the **Open Babel protocol** (validity, valid and connected,
  uniqueness, novelty against the training split's SMILES). The bond-free EDM distance-table protocol is
  left out: its valence tables are known to fail on drug-sized molecules (Nikitin et al. 2025);
* the drug metrics of :mod:`unite_mol.metrics.drugs` on the first ``drug_samples`` of them, with Open
  Babel bonds: PoseBusters pass rate, MMFF94 strain, FCD against the training SMILES (biased upwards at
  these sample sizes: compare rows of equal size only), and GFN2-xTB relaxation energy with ``--xtb``
  (about 1.4 s a molecule);
* a calibration row: the test split itself (its coordinates only, bonds perceived by Open Babel) through the
  same code.

Data: the offline drug-like set (MOSES SMILES, ETKDG + MMFF94; ``--size`` molecules, 80/10/10 split) by
default, or GEOM-drugs from the user's files: ``--geom-split-pickles FOLDER`` (MiDi's ``train_data.pickle``,
``val_data.pickle``, ``test_data.pickle``) or ``--geom-rdkit-folder FOLDER`` (GEOM's ``summary_drugs.json``
+ pickles), or any ``--dataset NAME`` that ``python -m unite_mol.train --dataset`` reads (``druglike:SIZE``,
``geom:FOLDER``). Every source is a :class:`unite_mol.data.sets.TrainingSet`, the data interface of
``python -m unite_mol.train``.
The model is sized on the training split (:meth:`MoleculeConfig.from_data`: its elements, its
largest molecule); test molecules outside that are left out of reconstruction and counted.

**No formal charges.** The molecule adapter has no charge head (it reads and writes elements and
coordinates). The drug-like set has no charged atom, so nothing is lost there; a charged GEOM molecule
stops the bench with a ``ValueError`` that names it, unless ``--skip-charged`` leaves such molecules out
(counted in ``configs.json``). See :mod:`unite_mol.bench.drugs_data`.

``--preset pretrained [--model NAME_OR_PATH]`` trains nothing: it scores a saved model (default ``druglike``;
**no drug-like model is shipped yet**, and a missing one stops with exit code 2 naming the file and the train
command) on its test split: ``--samples`` molecules (default 1,000) from :func:`unite_mol.generate` at its
defaults, Open Babel and predicted-bond validity, connectivity, uniqueness and novelty, GFN2-xTB relaxation
(``--xtb-n``), PoseBusters (``--pb-n``), MMFF strain (``--mmff-n``), FCD against the test split, element shares
(F, S, Cl, Br), the time for 200 molecules, a calibration row of test molecules and the published GEOM-drugs
xTB medians labelled as another data set. See :mod:`unite_mol.bench.drugs_pretrained`.

The ``smoke`` preset (GE-T models trained for seconds on 200 molecules) checks that the bench runs end to end;
its numbers say nothing about either method, and the bench says so on stdout and in ``results.md``. Each
evaluation phase (reconstruction, sampling, the field's metrics, the drug metrics) is announced on stdout
and reports its wall-clock when done.

Results go to ``--out`` (default ``runs/bench-results/drugs-<preset>-<date>``): ``results.md``, ``results.csv``,
``configs.json``, ``machine.json`` (command, machine, commit, wall-clock), learning curves.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from unite_mol.bench.drugs_pretrained import add_arguments as add_pretrained_arguments
from unite_mol.bench.drugs_pretrained import pretrained_flags
from unite_mol.bench.drugs_pretrained import run as run_pretrained
from unite_mol.bench.qm9 import Preset
from unite_mol.bench.report import phase, plot_curves, write_results
from unite_mol.core.entry import ENTRIES
from unite_mol.runtime import machine_info, parse_duration

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DrugPreset(Preset):
    drug_samples: int = 8      # generated molecules scored with the drug metrics (PoseBusters ~1.3 s each)
    size: int = 200            # drug-like set size (80 % train)
    self_cond: bool = False    # off, as in the committed benchmarks/drugs/cpu run (QM9's presets have it on)


PRESETS = {
    "smoke": DrugPreset("smoke", "GE-T", budget_s=20, batch_size=16, samples=16, recon=16, steps=10,
                        drug_samples=8, size=200),
    "cpu": DrugPreset("cpu", "GE-CPU", budget_s=900, batch_size=32, samples=500, recon=200, steps=50,
                      drug_samples=100, size=2000),
    "gpu": DrugPreset("gpu", "GE-S", budget_s=1800, batch_size=128, samples=2000, recon=1000, steps=50, lr=5e-4,
                      flow_copies=4, drug_samples=500, size=20_000),
}

COLUMNS = [("recon/elem_acc", "recon element acc %"), ("recon/match_adit", "recon match % (InChI)"),
           ("recon/rmsd", "recon RMSD A"), ("recon/equivariance_rmsd_median", "rotation error A (median)"),
           ("gen/openbabel/validity", "valid % (Open Babel)"), ("gen/openbabel/connected", "valid+connected %"),
           ("gen/openbabel/uniqueness", "unique %"), ("gen/openbabel/novelty", "novel %"),
           ("drugs/n", "drug-metric molecules"), ("drugs/posebusters_all", "PoseBusters pass %"),
           ("drugs/mmff_strain_median_kcal", "MMFF strain median kcal/mol"),
           ("drugs/xtb_relax_median_kcal", "xTB relaxation median kcal/mol"), ("drugs/fcd", "FCD")]

NOTES = ["Open Babel protocol: bonds perceived by Open Babel, whole molecule sanitised by RDKit; `valid+connected %`",
         "of all molecules; `unique %` of valid ones; `novel %` of valid ones, against the training split's SMILES.",
         "Drug metrics (PoseBusters `mol` checks, MMFF94 strain, FCD against the training SMILES; xTB only with `--xtb`)",
         "on the first `drug-metric molecules` samples, with Open Babel bonds; a molecule that does not sanitise fails",
         "PoseBusters. FCD is biased upwards at small sizes: compare rows of equal size only. The data row is the test",
         "split's own coordinates through the same code. `-` = not measured. Reconstruction: the same test molecules",
         "for every entry. No formal charges: the model has no charge head (see the bench's docstring)."]


SMOKE_NOTE = ("**Smoke preset: GE-T models trained for seconds on a few hundred molecules. It checks that the bench "
              "runs end to end; its numbers say nothing about either method.** Open Babel validity does not ask for "
              "one connected molecule, so a cloud of small fragments counts as valid: read `valid+connected %`.")


def preset_notes(preset: DrugPreset) -> list[str]:
    """Warnings above the results table: the smoke preset's numbers are meaningless."""
    return [SMOKE_NOTE, ""] if preset.name == "smoke" else []


# ---------------------------------------------------------------------------------------------- scoring
def drug_scores(samples: Sequence[Any], reference_smiles: Sequence[str], *, xtb: bool = False) -> dict[str, float]:
    """Drug metrics of ``samples`` (molecules or ``(numbers, positions)`` pairs) with Open Babel bonds.

    Whatever bonds a sample carries are dropped and perceived again, so model samples and data go through
    the same route. FCD only when at least two samples sanitise (else NaN).
    """
    import math

    from unite_mol.metrics import as_molecule
    from unite_mol.metrics.drugs import drug_metrics, fcd_score, molecule_smiles
    from unite_mol.molecule import Molecule

    mols = []
    for item in samples:
        mol, _ = as_molecule(item)
        if mol is not None:  # an empty or broken sample has no geometry to score; counted by drugs/n
            mols.append(Molecule(mol.numbers, mol.positions).with_bonds("openbabel"))
    if not mols:
        return {"drugs/n": 0.0}
    measures = ("posebusters", "mmff", "xtb") if xtb else ("posebusters", "mmff")
    with phase(f"drug metrics ({', '.join(measures)}) of {len(mols)} molecules, about "
               f"{1.3 * len(mols) * (1 + xtb):.0f} s"):
        out = dict(drug_metrics(mols, measures=measures).metrics)
    valid = [s for s in (molecule_smiles(m) for m in mols) if s is not None]
    with phase(f"FCD of {len(valid)} valid molecules against {len(reference_smiles):,} training SMILES"):
        out["drugs/fcd"] = fcd_score(valid, list(reference_smiles)) if len(valid) >= 2 else math.nan
    out["drugs/fcd_valid"] = float(len(valid))
    return out


def generation_row(model, preset: DrugPreset, reference: set[str], *, seed: int, xtb: bool) -> dict[str, float]:
    """Open Babel generation metrics of ``preset.samples`` samples, drug metrics of the first ``drug_samples``."""
    from unite_mol.bench.qm9_eval import generation_eval

    with phase(f"sampling {preset.samples} molecules ({preset.steps} steps) and scoring them (Open Babel)"):
        gen, samples = generation_eval(model, preset.samples, preset.steps, reference, seed=seed,
                                       protocols=("openbabel",))
    return {**gen, **drug_scores(samples[: preset.drug_samples], sorted(reference), xtb=xtb)}


def data_row(test, n: int, drug_samples: int, reference: set[str], *, xtb: bool) -> dict[str, float]:
    """The test split's own coordinates (first ``n``) through the generation code: the calibration row."""
    from unite_mol.metrics import evaluate

    pairs = [(test.numbers[test.offsets[k]: test.offsets[k + 1]], test.positions[test.offsets[k]: test.offsets[k + 1]])
             for k in range(min(n, len(test)))]
    with phase(f"scoring {len(pairs)} test molecules (Open Babel)"):
        res = evaluate(pairs, reference=reference, protocols=("openbabel",))
    return {**{f"gen/{k}": v for k, v in res.metrics.items()},
            **drug_scores(pairs[:drug_samples], sorted(reference), xtb=xtb)}


# ---------------------------------------------------------------------------------------------- command
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench drugs", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="smoke", choices=[*PRESETS, "pretrained"],
                   help="budget and sizes; pretrained: score a saved model, no training")
    p.add_argument("--entries", default="unite,two-stage", help=f"comma-separated entries, from {list(ENTRIES)}")
    p.add_argument("--size", type=int, default=None, help="drug-like set size (default: the preset's)")
    p.add_argument("--samples", type=int, default=None,
                   help="generated molecules per entry (default: the preset's; pretrained: 1000)")
    p.add_argument("--drug-samples", type=int, default=None, help="of those, scored with the drug metrics")
    p.add_argument("--steps", type=int, default=None, help="ODE steps (default: the preset's)")
    p.add_argument("--budget", default=None, help="wall-clock per entry, e.g. 15m (default: the preset's)")
    p.add_argument("--xtb", action="store_true", help="also GFN2-xTB relaxation energies (about 1.4 s a molecule)")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="the data by name, as python -m unite_mol.train --dataset reads it: druglike, druglike:SIZE or "
                        "geom:FOLDER (either GEOM layout, detected); default the drug-like set of --size molecules")
    p.add_argument("--geom-split-pickles", default=None, metavar="FOLDER",
                   help="GEOM-drugs from MiDi split pickles (train_data.pickle, val_data.pickle, test_data.pickle)")
    p.add_argument("--geom-rdkit-folder", default=None, metavar="FOLDER",
                   help="GEOM-drugs from the rdkit_folder layout (summary_drugs.json + pickles)")
    p.add_argument("--geom-limit", type=int, default=None, help="at most this many GEOM molecules per split")
    p.add_argument("--geom-conformers", type=int, default=1, help="conformers per molecule from split pickles")
    p.add_argument("--skip-charged", action="store_true",
                   help="leave charged molecules out (counted) instead of stopping: the model has no charge head")
    p.add_argument("--trusted", action="store_true", help="unpickle GEOM files without the allow-list")
    p.add_argument("--seed", type=int, default=0, help="seed for data split, training and sampling")
    p.add_argument("--out", default=None, help="results folder (default runs/bench-results/drugs-<preset>-<date>)")
    p.add_argument("--runs", default=str(REPO / "runs" / "bench"), help="where training runs live (not committed)")
    add_pretrained_arguments(p)
    return p


def resolve(args: argparse.Namespace) -> tuple[DrugPreset, list[str]]:
    """The preset with the command line's overrides, and the entries.

    Raises:
        ValueError: for unknown entries or out-of-range numbers.
    """
    pr = PRESETS[args.preset]
    pr = replace(pr, samples=args.samples or pr.samples, steps=args.steps or pr.steps, size=args.size or pr.size,
                 drug_samples=pr.drug_samples if args.drug_samples is None else args.drug_samples,
                 budget_s=parse_duration(args.budget) if args.budget else pr.budget_s)
    for name in ("samples", "steps", "size"):
        if getattr(pr, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    if pr.drug_samples < 0 or (args.geom_limit is not None and args.geom_limit < 1):
        raise ValueError("--drug-samples must be >= 0 and --geom-limit >= 1")
    if args.geom_split_pickles and args.geom_rdkit_folder:
        raise ValueError("give --geom-split-pickles or --geom-rdkit-folder, not both")
    if args.dataset and (args.geom_split_pickles or args.geom_rdkit_folder or args.size):
        raise ValueError("--dataset names the data by itself; drop --geom-split-pickles / --geom-rdkit-folder / --size")
    if pretrained_flags(args):
        raise ValueError(f"{', '.join(pretrained_flags(args))}: only with --preset pretrained")
    entries = [e.strip() for e in args.entries.split(",") if e.strip()]
    bad = [e for e in entries if e not in ENTRIES]
    if bad or not entries:
        raise ValueError(f"unknown entries {bad}; choose from {list(ENTRIES)}")
    return pr, entries


def main(argv: list[str] | None = None) -> int:
    from unite_mol.bench.drugs_data import bench_splits, canonical_smiles, druglike_splits, geom_splits, representable
    from unite_mol.bench.qm9_eval import reconstruction_eval
    from unite_mol.bench.qm9_train import train_entry

    args = parser().parse_args(argv)
    if args.preset == "pretrained":
        return run_pretrained(args)
    t_start = time.time()
    try:
        pr, entries = resolve(args)
        if args.dataset:
            from unite_mol.data.sets import training_set

            splits, data_notes = bench_splits(training_set(
                args.dataset, seed=args.seed, workers=1, progress=False, skip_charged=args.skip_charged,
                geom_conformers=args.geom_conformers, geom_limit=args.geom_limit, trusted=args.trusted))
        elif args.geom_split_pickles or args.geom_rdkit_folder:
            splits, data_notes = geom_splits(split_pickles=args.geom_split_pickles, rdkit_folder=args.geom_rdkit_folder,
                                             limit=args.geom_limit, conformers=args.geom_conformers, seed=args.seed,
                                             skip_charged=args.skip_charged, trusted=args.trusted)
        else:
            splits, data_notes = druglike_splits(pr.size, seed=args.seed, skip_charged=args.skip_charged)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train, test = splits["train"], splits["test"]
    recon_test, left_out = representable(test, train, name="test")
    if len(train) < pr.batch_size:   # full batches only: a smaller set would give no batch at all
        print(f"[bench drugs] {len(train)} training molecules: batch size {pr.batch_size} -> {len(train)}", flush=True)
        pr = replace(pr, batch_size=len(train))
    data_notes.update(train=len(train), test=len(test), train_max_atoms=int(train.num_atoms.max()),
                      test_left_out_of_reconstruction=left_out)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = Path(args.out) if args.out else REPO / "runs" / "bench-results" / f"drugs-{pr.name}-{stamp}"
    for line in preset_notes(pr)[:1]:
        print(f"[bench drugs] {line}", flush=True)
    print(f"[bench drugs] preset {pr.name}; data {data_notes['source']}: {len(train)} train / {len(test)} test "
          f"molecules, up to {data_notes['train_max_atoms']} atoms; results -> {out}", flush=True)
    reference = canonical_smiles(train.smiles)
    configs: dict[str, Any] = {"preset": pr.name, "settings": pr.__dict__, "seed": args.seed, "entries": entries,
                               "data": data_notes, "xtb": args.xtb, "protocol": "openbabel"}
    print("[bench drugs] calibration row: the test split through the same metrics", flush=True)
    rows: list[dict] = [{"entry": f"test data ({min(pr.samples, len(test))})",
                         **data_row(test, pr.samples, pr.drug_samples, reference, xtb=args.xtb)}]
    for k, entry in enumerate(entries):
        print(f"[bench drugs] entry {k + 1}/{len(entries)} {entry}: training for {pr.budget_s:.0f} s", flush=True)
        run_dir = Path(args.runs) / f"drugs-{pr.name}-{stamp}" / entry
        if run_dir.exists():
            shutil.rmtree(run_dir)
        model, summary = train_entry(entry, pr, run_dir, args.seed, data=train, dataset=str(data_notes["source"]))
        print(f"[bench drugs] entry {entry}: evaluating", flush=True)
        with phase(f"reconstruction of {min(pr.recon, len(recon_test))} test molecules (with the rotation error)"):
            recon = reconstruction_eval(model, pr.recon, seed=args.seed, data=recon_test)
        row = {**summary, **recon, **generation_row(model, pr, reference, seed=args.seed, xtb=args.xtb)}
        rows.append(row)
        dest = out / "curves" / entry
        dest.mkdir(parents=True, exist_ok=True)
        for c in filter(lambda c: Path(c).exists(), summary["curves"]):   # none if no step was logged
            shutil.copy(c, dest / (Path(c).parent.name + "-metrics.jsonl" if "stage" in c else "metrics.jsonl"))
        plot_curves([r for r in rows if "curves" in r], out / "curves.png")
    machine = machine_info()
    machine["wall_s"] = time.time() - t_start
    write_results(out, rows, configs, machine, title="Drug-sized molecules benchmark", columns=COLUMNS,
                  notes=preset_notes(pr) + NOTES, anchors=False)
    print((out / "results.md").read_text())
    return 0
