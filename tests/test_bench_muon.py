"""The Muon step's hot path (what `deltalab bench muon-step` times) keeps torch.optim.Muon's numbers
exactly: the 2-D Newton–Schulz equals torch's and the general function bit for bit, and whole steps
equal torch.optim.Muon's (atol 0)."""

from __future__ import annotations

import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz

from deltalab.optim.muon import Muon, _newton_schulz_2d
from deltalab.optim.newton_schulz import NS_COEFFICIENTS, newton_schulz


@pytest.mark.parametrize("shape", [(16, 16), (32, 8), (8, 32)])
def test_hot_path_newton_schulz_is_torchs(shape: tuple[int, int]) -> None:
    G = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    ours = _newton_schulz_2d(G, 5, NS_COEFFICIENTS, 1e-7, torch.bfloat16)
    torch.testing.assert_close(ours, _zeropower_via_newtonschulz(G, NS_COEFFICIENTS, 5, 1e-7), rtol=0, atol=0)
    torch.testing.assert_close(ours, newton_schulz(G), rtol=0, atol=0)
    fp32 = _newton_schulz_2d(G, 5, NS_COEFFICIENTS, 1e-7, None)
    torch.testing.assert_close(fp32, newton_schulz(G, dtype=None), rtol=0, atol=0)
    assert fp32.dtype == torch.float32
    same = G.clone()
    _newton_schulz_2d(same, 5, NS_COEFFICIENTS, 1e-7, torch.float32)  # input dtype = ns dtype: no aliasing
    assert torch.equal(same, G)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("nesterov", [True, False])
def test_steps_equal_torch_exactly(weight_decay: float, nesterov: bool) -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(12, 12), (24, 6), (6, 24)]
    ours_p = [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]
    ref_p = [torch.nn.Parameter(p.detach().clone()) for p in ours_p]
    kw = dict(lr=0.02, weight_decay=weight_decay, momentum=0.9, nesterov=nesterov, adjust_lr_fn="original")
    ours, ref = Muon(ours_p, ns_dtype=torch.bfloat16, **kw), torch.optim.Muon(ref_p, **kw)
    for _ in range(4):
        for p, q in zip(ours_p, ref_p):
            gr = torch.randn(p.shape, generator=g)
            p.grad, q.grad = gr.clone(), gr.clone()
        ours.step()
        ref.step()
    for p, q in zip(ours_p, ref_p):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
