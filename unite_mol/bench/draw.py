"""``python -m unite_mol.bench draw OUT.png``: a grid of 2-D drawings of generated molecules.

The first ``--n`` samples of the shipped model (or ``--model``), seed 0, with the model's bonds (or perceived
ones, ``--bonds``); each caption says whether the molecule is usable in :meth:`Molecule.invalid_reason`'s sense
("valid": sanitises, one piece, no radical) or what it is not. Nothing is filtered out.
"""

from __future__ import annotations

import argparse


def status(rd) -> str:
    """The caption's verdict on an RDKit molecule built without sanitising (sanitised in place when it can
    be): "valid", or "not sanitisable", or what else is wrong ("2 fragments", "radical")."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    with BlockLogs():
        try:
            Chem.SanitizeMol(rd)
        except (ValueError, RuntimeError):
            return "not sanitisable"
    frags = len(Chem.GetMolFrags(rd))
    wrong = ([f"{frags} fragments"] if frags > 1 else []) + \
        (["radical"] if any(a.GetNumRadicalElectrons() for a in rd.GetAtoms()) else [])
    return ", ".join(wrong) or "valid"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unite_mol.bench draw")
    p.add_argument("out", help="PNG file")
    p.add_argument("--model", default=None, help="model path (default: the shipped model)")
    p.add_argument("--n", type=int, default=24, help="molecules")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--bonds", default="auto", choices=["auto", "model", "openbabel", "rdkit", "edm"],
                   help="bonds drawn: the model's bond head (auto, when it has one) or perceived from 3D")
    args = p.parse_args(argv)

    from rdkit import Chem
    from rdkit.Chem import AllChem, Draw

    from unite_mol import generate

    mols = generate(args.n, seed=args.seed, model=args.model, bonds=args.bonds)
    pics, legends = [], []
    for k, m in enumerate(mols):
        rd = m.to_rdkit(sanitize=False)
        verdict = status(rd)
        if verdict == "not sanitisable":
            rd.UpdatePropertyCache(strict=False)
        else:
            rd = Chem.RemoveHs(rd)
        rd = Chem.Mol(rd)
        AllChem.Compute2DCoords(rd)
        pics.append(rd)
        legends.append(f"#{k} {m.formula}: {verdict}")
    img = Draw.MolsToGridImage(pics, molsPerRow=6, subImgSize=(260, 220), legends=legends)
    img.save(args.out)
    print(f"wrote {args.out} (bonds: {mols[0].properties.get('bonds_from') if mols else args.bonds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
