"""LeCunTanh and the fan-in init helpers."""

import math

import pytest
import torch
from torch import nn

from deltalab.nn.act import LeCunTanh, lecun_tanh_derivative
from deltalab.nn.init import fan_in, fan_in_normal_, init_model_


def test_lecun_tanh_fixed_points_and_derivative():
    f = LeCunTanh()
    torch.testing.assert_close(f(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]), atol=1e-4, rtol=0)
    x = torch.linspace(-4, 4, 41, requires_grad=True)
    f(x).sum().backward()
    torch.testing.assert_close(x.grad, lecun_tanh_derivative(x.detach()))
    assert abs(lecun_tanh_derivative(torch.tensor(0.0)).item() - 1.7159 * 2 / 3) < 1e-6


def test_fan_in_and_init_variance():
    assert fan_in(torch.empty(7, 300)) == 300
    assert fan_in(torch.empty(8, 3, 5, 5)) == 75
    g = torch.Generator().manual_seed(0)
    w = fan_in_normal_(torch.empty(400, 500), generator=g)
    assert abs(w.std().item() - 1 / math.sqrt(500)) < 0.002
    net = init_model_(nn.Sequential(nn.Linear(100, 50), nn.Tanh(), nn.Linear(50, 10)), "normal", std=1.0)
    assert abs(net[0].weight.std().item() - 1.0) < 0.05 and net[0].bias.abs().max() == 0


def test_bad_values():
    with pytest.raises(ValueError, match="bogus"):
        init_model_(nn.Linear(2, 2), "bogus")
    with pytest.raises(ValueError, match=r"\(3,\)"):
        fan_in(torch.empty(3))
    with pytest.raises(ValueError, match="-2"):
        fan_in_normal_(torch.empty(2, 2), gain=-2)
