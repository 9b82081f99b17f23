import math

import pytest
import torch
from torch import nn

from deltalab.models.ssl.ema import EMA, make_target


def test_one_step_equals_m_target_plus_one_minus_m_online_exactly():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    target = make_target(online)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(torch.randn_like(p))
    online(torch.randn(8, 4))  # changes the BatchNorm running stats
    before = [p.clone() for p in target.parameters()]
    m = 0.9
    EMA(online, target, momentum=m).update()
    for t0, p_online, p_target in zip(before, online.parameters(), target.parameters()):
        assert torch.equal(p_target, t0 * m + p_online * (1 - m))
    for b_online, b_target in zip(online.buffers(), target.buffers()):
        assert torch.equal(b_online, b_target)


def test_target_has_no_gradients():
    target = make_target(nn.Linear(2, 2))
    assert not any(p.requires_grad for p in target.parameters())


def test_cosine_schedule_endpoints():
    net = nn.Linear(2, 2)
    ema = EMA(net, make_target(net), momentum=0.9, final_momentum=1.0, total_steps=10)
    assert ema.momentum_at(0) == pytest.approx(0.9)
    assert ema.momentum_at(5) == pytest.approx(0.95)
    assert ema.momentum_at(10) == pytest.approx(1.0)
    assert ema.momentum_at(3) == pytest.approx(1 - 0.1 * (math.cos(math.pi * 0.3) + 1) / 2)


def test_bad_momentum_raises():
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="1.5"):
        EMA(net, make_target(net), momentum=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        EMA(net, make_target(net), momentum=0.9, final_momentum=1.0)
