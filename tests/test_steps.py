"""fit_steps is the hand-written loop it replaces, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.train.steps import fit_steps


def _setup(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, 7, 0.5)
    return model, opt, sched


def _batch(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(8, 5, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def test_fit_steps_equals_the_hand_loop():
    model, opt, sched = _setup()
    g = torch.Generator().manual_seed(1)
    hand = []
    for _ in range(20):
        x, y = _batch(g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()
        sched.step()
        hand.append(loss.item())
    want = [p.detach().clone() for p in model.parameters()]

    model, opt, sched = _setup()
    g = torch.Generator().manual_seed(1)

    def loss_fn() -> torch.Tensor:
        x, y = _batch(g)
        return F.cross_entropy(model(x), y)

    curve = fit_steps(loss_fn, opt, 20, clip=0.1, scheduler=sched)
    assert curve == hand
    for p, q in zip(model.parameters(), want, strict=True):
        assert torch.equal(p, q)
    assert sched.get_last_lr()[0] == pytest.approx(3e-2 * 0.5**2)


def test_after_step_sees_each_step_and_can_stop():
    model, opt, _ = _setup()
    g = torch.Generator().manual_seed(1)
    seen: list[int] = []

    def after(step: int, loss: torch.Tensor) -> bool:
        assert not loss.requires_grad
        seen.append(step)
        return step == 5

    curve = fit_steps(lambda: F.cross_entropy(model(_batch(g)[0]), _batch(g)[1]), opt, 50, after_step=after)
    assert seen == [1, 2, 3, 4, 5] and len(curve) == 5


def test_clip_bounds_the_update_and_bad_steps_are_refused():
    torch.manual_seed(0)
    w = nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w], lr=1.0)
    fit_steps(lambda: (w * torch.tensor([300.0, 400.0, 0.0])).sum(), opt, 1, clip=1.0)
    assert w.norm().item() == pytest.approx(1.0, rel=1e-6)
    assert fit_steps(lambda: w.sum(), opt, 0) == []
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a whole number"):
            fit_steps(lambda: w.sum(), opt, bad)  # type: ignore[arg-type]
