"""Profile one training step of the shipped recipe (continued from the shipped model, bf16 autocast, 2 threads).

    .venv/bin/python benchmarks/qm9/throughput/profile_step.py [prof] [shapes]

Prints seconds per step (8 steps after 3 warm-up steps); with ``prof`` the top ops by self CPU time over
4 steps, with ``shapes`` also grouped by input shape.
"""
import time, sys, torch, numpy as np
from unite_mol.train import init_from_saved, EpochBatches
from unite_mol.core.unite import UniteConfig, unite_loss
from unite_mol.data import BucketBatchSampler, qm9, random_rotation
from unite_mol.data.bond_labels import qm9_bond_labels
from unite_mol.molecular import MoleculeConfig
torch.set_num_threads(2)
data = qm9("train")
stage = dict(refine_layers=3, refine_width=64, bond_head=True, local_weight=0.02)
elements=(1,6,7,8,9)
stage["composition_hist"] = MoleculeConfig.composition_table(data.numbers, data.offsets, elements)
model, _ = init_from_saved("unite_mol/pretrained/unite-qm9", stage, ge_inputs=dict(self_cond=True, slot_features=5))
sampler = BucketBatchSampler(data.num_atoms, 128, seed=0)
eb = EpochBatches(data, sampler.epoch(0), qm9_bond_labels("train"))
cfg = UniteConfig()
opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
g = torch.Generator().manual_seed(0)
def step(i):
    b = random_rotation(eb[i], g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, logs = unite_loss(model, b, g, cfg)
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
for i in range(3): step(i)
t=time.perf_counter(); n=8
for i in range(3,3+n): step(i)
print("s/step", (time.perf_counter()-t)/n)
if len(sys.argv)>1:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as p:
        for i in range(20,24): step(i)
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
if len(sys.argv)>2:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        for i in range(30,32): step(i)
    print(p.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=45, max_name_column_width=30, max_shapes_column_width=70))
