"""``--compile`` compiles the transformers in place: same parameter names, same loss and gradients."""

import copy

import pytest
import torch

from unite_mol.core.entry import compile_in_place
from unite_mol.core.unite import UniteConfig, unite_loss
from unite_mol.runtime import uncompiled

from helpers import qm9_batch, tiny_model


@pytest.mark.slow  # Inductor compiles C++ for a minute or more on two cores
def test_compiled_blocks_give_the_eager_loss_and_gradients_under_the_same_names():
    eager = tiny_model()
    compiled = copy.deepcopy(eager)
    compile_in_place(compiled)
    assert all(getattr(m, "_compiled_call_impl", None) is not None for m in (compiled.ge, compiled.decoder))
    assert list(compiled.state_dict()) == list(eager.state_dict())
    batch = qm9_batch(range(6))
    grads = []
    for m in (eager, compiled):
        loss, _ = unite_loss(m, batch, torch.Generator().manual_seed(3), UniteConfig())
        loss.backward()
        grads.append((float(loss), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}))
    (l0, g0), (l1, g1) = grads
    assert l1 == pytest.approx(l0, rel=1e-4)
    assert g0.keys() == g1.keys()
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-3, atol=1e-5, msg=n)
    plain = uncompiled(copy.deepcopy(compiled))
    assert all(getattr(m, "_compiled_call_impl", None) is None for m in plain.modules())
