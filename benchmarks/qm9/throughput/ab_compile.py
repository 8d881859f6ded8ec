"""A/B of torch.compile on the shipped recipe (4 flow copies, bf16 autocast): eager vs compiled transformer
blocks vs compiled whole networks (GE, denoiser, decoder), the same weights and batches, steps interleaved so
machine load hits all three alike.

    .venv/bin/python benchmarks/qm9/throughput/ab_compile.py [THREADS] [STEPS]
"""
import time, sys, copy, torch
from unite_mol.train import init_from_saved, EpochBatches
from unite_mol.core.unite import UniteConfig, unite_loss
from unite_mol.data import BucketBatchSampler, qm9, random_rotation
from unite_mol.data.bond_labels import qm9_bond_labels
from unite_mol.molecular import MoleculeConfig
from unite_mol.core.model import Block
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
data = qm9("train")
stage = dict(refine_layers=3, refine_width=64, bond_head=True, local_weight=0.02)
stage["composition_hist"] = MoleculeConfig.composition_table(data.numbers, data.offsets, (1,6,7,8,9))
model, _ = init_from_saved("unite_mol/pretrained/unite-qm9", stage, ge_inputs=dict(self_cond=True, slot_features=5))
modelB = copy.deepcopy(model)
modelW = copy.deepcopy(model)
for m in modelB.modules():
    if isinstance(m, Block):
        m.compile(dynamic=True)
for m in (modelW.ge, modelW.ge_denoise, modelW.decoder):
    if m is not None:
        m.compile(dynamic=True)
sampler = BucketBatchSampler(data.num_atoms, 128, seed=0)
eb = EpochBatches(data, sampler.epoch(0), qm9_bond_labels("train"))
cfg = UniteConfig(flow_copies=4)
opts = {id(m): torch.optim.AdamW(m.parameters(), lr=1e-5) for m in (model, modelB, modelW)}
def step(m, i):
    g = torch.Generator().manual_seed(i)
    b = random_rotation(eb[i], g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, logs = unite_loss(m, b, g, cfg)
    loss.backward(); opts[id(m)].step(); opts[id(m)].zero_grad(set_to_none=True)
    return float(loss)
# warm-up / compile: run B over several batch shapes
t0 = time.perf_counter()
for i in range(6): step(model, i)
te = time.perf_counter() - t0
for name, m in (("blocks", modelB), ("whole", modelW)):
    t0 = time.perf_counter()
    for i in range(6): step(m, i)
    print(f"{name}: compile + 6 steps {time.perf_counter()-t0:.0f} s (eager 6 steps {te:.0f} s)", flush=True)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 12
tt = {k: 0.0 for k in ("eager", "blocks", "whole")}; ll = dict(tt)
for i in range(10, 10 + N):
    for name, m in (("eager", model), ("blocks", modelB), ("whole", modelW)):
        t = time.perf_counter(); ll[name] += step(m, i); tt[name] += time.perf_counter() - t
print("  ".join(f"{k} {v/N:.3f} s/step (x{tt['eager']/v:.2f}) loss {ll[k]/N:.4f}" for k, v in tt.items()))
