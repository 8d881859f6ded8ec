"""Round 11 prototype: at sampler times lo <= t < hi, move the clean-latent estimate x toward its projection
through the model's own autoencoder, x + lambda (encode(decode(x)) - x) (decoded elements by argmax,
coordinates centred, fresh tokenization noise from a fixed generator). generate()'s defaults otherwise.

Usage: python benchmarks/qm9/sampling/round11/project.py NAME LAMBDA LO HI N [SEED]   (LAMBDA 0: unchanged)
Appends one row to project.jsonl next to this file.
"""
import json, sys, time
from pathlib import Path
import torch
from unite_mol.generation import generate, load_model
from unite_mol.metrics import evaluate
from unite_mol.data.batching import MolBatch
from unite_mol.data.qm9 import training_smiles

def projector(model, lam=1.0, interval=(0.0, 1.0), seed=123, update_estimate=False):
    ad = model.adapter
    gen = torch.Generator().manual_seed(seed)
    orig = model.sampling_denoiser

    def proj(x, mask):
        with torch.autocast("cpu", enabled=False):
            dec = model.decode(x.float(), mask)
        ids = dec["logits"].argmax(-1).clamp(max=ad.num_elements - 1)
        numbers = torch.where(mask, ad.token_to_z[ids], torch.zeros_like(ids))
        pos = dec["coords"].float() * ad.config.coord_scale * mask.unsqueeze(-1)
        c = pos.sum(1, keepdim=True) / mask.sum(1).clamp(min=1)[:, None, None]
        pos = (pos - c) * mask.unsqueeze(-1)
        tokens = ad.embed(MolBatch(numbers, pos, mask))
        noise = torch.randn(*mask.shape, model.config.latent_dim, generator=gen) * mask.unsqueeze(-1)
        return model.tokenize(tokens, noise.to(x.dtype)).to(x.dtype)

    def sampling_denoiser(mask, **kw):
        f = orig(mask, **kw)
        def g(z, t):
            x = f(z, t)
            tt = float(t.reshape(-1)[0])
            if interval[0] <= tt < interval[1]:
                x = x + lam * (proj(x, mask) - x)
            return x
        return g
    model.sampling_denoiser = sampling_denoiser
    return model

if __name__ == "__main__":
    name, lam, lo, hi, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    model = load_model()
    if lam > 0:
        projector(model, lam, (lo, hi))
    t0 = time.time()
    mols = generate(n, seed=seed, model=model, bonds="auto", progress=False)
    gs = time.time() - t0
    res = evaluate(mols, reference=set(training_smiles()), protocols=("edm", "openbabel", "bonds"))
    m = res.metrics
    row = dict(name=name, lam=lam, lo=lo, hi=hi, n=n, seed=seed, gen_s=round(gs, 1),
               **{k: round(100 * m[k], 2) for k in ("edm/atom_stability", "edm/mol_stability", "edm/validity", "edm/connected",
                  "edm/uniqueness", "bonds/atom_stability", "bonds/mol_stability", "bonds/connected") if k in m})
    print(json.dumps(row))
    with open(Path(__file__).with_name("project.jsonl"), "a") as fh:
        fh.write(json.dumps(row) + "\n")
