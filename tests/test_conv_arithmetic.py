"""Conv arithmetic calculator vs torch; hand-written conv/pool gradients vs autograd."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.experiments.conv_theory import _measured_rf, _random_stack, _torch_layer
from deltalab.theory.conv_arithmetic import (
    LayerSpec,
    conv_params,
    output_size,
    stack_geometry,
    stride1_receptive_field,
)
from deltalab.theory.conv_gradients import (
    avgpool2d_grad,
    conv2d_input_grad,
    conv2d_weight_grad,
    maxpool2d_grad,
    weight_grad_variance,
)


def test_output_size_formula_examples():
    assert output_size(32, 5) == 28
    assert output_size(32, 3, stride=2, padding=1) == 16
    assert output_size(7, 3, stride=2, dilation=2) == 2
    assert output_size(5, 2, stride=2, ceil_mode=True) == 3


@pytest.mark.parametrize("seed", range(3))
def test_random_stacks_match_torch(seed):
    rng = random.Random(seed)
    for _ in range(60):
        layers, size = _random_stack(rng)
        geo = stack_geometry(layers, size)
        net = nn.Sequential(*[_torch_layer(s, 2) for s in layers])
        with torch.no_grad():
            y = net(torch.zeros(1, layers[0].in_channels, size, size))
        assert y.shape[-1] == geo.sizes[-1]
        assert sum(p.numel() for p in net.parameters()) == geo.params
        assert _measured_rf(layers) == (geo.receptive_field, geo.jump)


def test_stride1_receptive_field():
    layers = [LayerSpec("conv", 3)] * 4
    assert stack_geometry(layers, 64).receptive_field == stride1_receptive_field(4, 3) == 9
    assert stack_geometry([LayerSpec("conv", 3, 2), LayerSpec("conv", 3)], 64).receptive_field == 7


def test_params():
    assert conv_params(3, 16, 5) == 5 * 5 * 3 * 16 + 16
    assert conv_params(4, 8, (3, 1), bias=False, groups=2) == 3 * 4 * 8 // 2


def test_bad_values_raise():
    with pytest.raises(ValueError, match="does not fit"):
        output_size(3, 5)
    with pytest.raises(ValueError, match="kind"):
        LayerSpec("pool")
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        LayerSpec("conv", 3, 0)
    with pytest.raises(ValueError, match="padding=2"):
        LayerSpec("maxpool", 3, 1, 2)


def test_gradients_match_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 9, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w)
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    gx, gw = torch.autograd.grad(y, (x, w), dy)
    torch.testing.assert_close(conv2d_weight_grad(x.detach(), dy), gw)
    torch.testing.assert_close(conv2d_input_grad(dy, w.detach()), gx)
    xp = torch.randn(2, 2, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    dp = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    (gm,) = torch.autograd.grad(F.max_pool2d(xp, 2), xp, dp)
    (ga,) = torch.autograd.grad(F.avg_pool2d(xp, 2), xp, dp)
    torch.testing.assert_close(maxpool2d_grad(xp.detach(), dp, 2), gm)
    torch.testing.assert_close(avgpool2d_grad(dp, 2), ga)


def test_weight_grad_variance():
    g = torch.Generator().manual_seed(1)
    samples = [
        conv2d_weight_grad(torch.randn(4, 2, 8, 8, generator=g), 2 * torch.randn(4, 2, 6, 6, generator=g))
        for _ in range(100)
    ]
    var = torch.cat([s.flatten() for s in samples]).var().item()
    assert var == pytest.approx(weight_grad_variance(4, 6, 6, 1.0, 4.0), rel=0.15)
