"""adam_step_stacked_ == G separate torch optimizers (Adam, AdamW, with clip_grad_norm_)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from deltalab.optim.stacked import adam_step_stacked_


def _run(weight_decay: list[float] | None, max_norm: float | None) -> None:
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)) for _ in range(3)]
    refs = [nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)) for _ in range(3)]
    for r, n in zip(refs, nets, strict=True):
        r.load_state_dict(n.state_dict())
    lrs = [1e-3, 3e-2, 1e-1]
    params, _ = stack_module_state(nets)
    params = {k: v.detach().clone() for k, v in params.items()}
    base = nets[0]
    state: dict = {}
    opts = [
        torch.optim.Adam(r.parameters(), lr=lr)
        if weight_decay is None
        else torch.optim.AdamW(r.parameters(), lr=lr, weight_decay=wd)
        for r, lr, wd in zip(refs, lrs, weight_decay or [0.0] * 3, strict=True)
    ]
    for step in range(1, 8):
        x, y = torch.randn(3, 9, 5) * 3, torch.randn(3, 9, 2)
        for p in params.values():
            p.requires_grad_(True)
        out = vmap(lambda p, xb: functional_call(base, p, (xb,)))(params, x)
        loss = (out - y).pow(2).mean((1, 2)).sum()
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
        for p in params.values():
            p.requires_grad_(False)
        wd = None if weight_decay is None else torch.tensor(weight_decay)
        adam_step_stacked_(params, grads, state, torch.tensor(lrs), step, weight_decay=wd, max_norm=max_norm)
        for g, (r, opt) in enumerate(zip(refs, opts, strict=True)):
            opt.zero_grad()
            (r(x[g]) - y[g]).pow(2).mean().backward()
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(r.parameters(), max_norm)
            opt.step()
            for name, p in r.named_parameters():
                torch.testing.assert_close(params[name][g], p.detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    ("weight_decay", "max_norm"),
    [(None, None), (None, 0.5), ([1e-4, 1e-2, 1e-1], None), ([0.0, 0.1, 1.0], 0.5)],
)
def test_stacked_step_is_each_copys_own_torch_optimizer(weight_decay, max_norm):
    _run(weight_decay, max_norm)


def test_stacked_step_rejects_bad_input():
    p = {"w": torch.zeros(2, 3)}
    with pytest.raises(ValueError, match="counts from 1"):
        adam_step_stacked_(p, {"w": torch.ones(2, 3)}, {}, torch.ones(2), 0)
    with pytest.raises(ValueError, match="keys of params"):
        adam_step_stacked_(p, {"v": torch.ones(2, 3)}, {}, torch.ones(2), 1)
