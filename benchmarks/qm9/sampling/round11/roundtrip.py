"""Decode -> re-encode -> decode of 200 generated samples (the shipped model, seed 0): how much the round trip moves them."""
import torch, numpy as np
from unite_mol.generation import generate, load_model
from unite_mol.metrics import evaluate
from unite_mol.data.batching import MolBatch
from unite_mol.molecule import Molecule
torch.manual_seed(0)
model = load_model()
mols = generate(200, seed=0, model=model, bonds=None, progress=False)
def batch_of(ms):
    n = max(len(m.numbers) for m in ms)
    B = len(ms)
    num = torch.zeros(B, n, dtype=torch.long); pos = torch.zeros(B, n, 3); mask = torch.zeros(B, n, dtype=torch.bool)
    for i, m in enumerate(ms):
        k = len(m.numbers); num[i, :k] = torch.as_tensor(m.numbers); x = np.asarray(m.positions); pos[i, :k] = torch.as_tensor(x - x.mean(0)).float(); mask[i, :k] = True
    return MolBatch(num, pos, mask)
b = batch_of(mols)
for amp in (False, True):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        z, mask = model.encode(b)
    with torch.no_grad():
        dec = model.decode(z.float(), mask)
    arr = model.adapter.to_arrays(dec, mask)
    rt = [Molecule(a, x) for a, x in arr]
    d = [float(np.sqrt(((np.asarray(m.positions) - np.asarray(m.positions).mean(0) - x) ** 2).sum(1).mean())) for m, (a, x) in zip(mols, arr)]
    same = np.mean([np.array_equal(m.numbers, a) for m, (a, x) in zip(mols, arr)])
    print("amp", amp, "median rmsd", np.median(d), "elem same", same)
    for name, ms in (("orig", mols), ("rt", rt)):
        r = evaluate(ms, protocols=("edm",)).metrics
        print(name, {k: round(100 * v, 1) for k, v in r.items() if k.startswith("edm/") and k.split("/")[1] in ("atom_stability", "mol_stability", "validity", "connected")})
