"""μP (at base width it is SP exactly; rate multipliers) and unit scaling (RMS ≈ 1, gradients)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deltalab.nn.mup import MupMLP, MuReadout, attention_scale
from deltalab.nn.unit_scaling import UnitScaledLinear, UnitScaledReLU, unit_scaled_cross_entropy
from deltalab.optim.mup import base_shapes, lr_multiplier, mup_param_groups


@pytest.mark.parametrize("rule", ["adam", "sgd"])
def test_mup_at_base_width_equals_sp(rule: str) -> None:
    torch.manual_seed(0)
    mup = MupMLP(10, 32, 4, num_layers=2, base_width=32, mup=True)
    torch.manual_seed(0)
    sp = MupMLP(10, 32, 4, num_layers=2, base_width=32, mup=False)
    x, y = torch.randn(16, 10), torch.randint(0, 4, (16,))
    torch.testing.assert_close(mup(x), sp(x), rtol=0, atol=0)
    cls = torch.optim.Adam if rule == "adam" else torch.optim.SGD
    opt_mup = cls(mup_param_groups(mup, base_shapes(mup), lr=0.01, rule=rule), lr=0.01)
    opt_sp = cls(sp.parameters(), lr=0.01)
    for _ in range(3):
        for model, opt in ((mup, opt_mup), (sp, opt_sp)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    for a, b in zip(mup.parameters(), sp.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert attention_scale(16, base_head_dim=16) == attention_scale(16)


def test_mup_multipliers() -> None:
    base = base_shapes(MupMLP(10, 32, 4, base_width=32))
    wide = MupMLP(10, 128, 4, base_width=32)
    mult = {n: lr_multiplier(tuple(p.shape), base[n], "adam") for n, p in wide.named_parameters()}
    assert mult == {
        "1.weight": 1.0,
        "1.bias": 1.0,
        "3.weight": 0.25,
        "3.bias": 1.0,
        "5.weight": 1.0,
        "5.bias": 1.0,
    }
    sgd = {n: lr_multiplier(tuple(p.shape), base[n], "sgd") for n, p in wide.named_parameters()}
    assert sgd["3.weight"] == 1.0 and sgd["1.weight"] == 4.0 and sgd["5.weight"] == 4.0
    groups = mup_param_groups(wide, base, lr=0.1)
    assert sorted(g["lr"] for g in groups) == [0.025, 0.1]
    assert isinstance(wide[5], MuReadout) and wide[5].width_mult == 4.0
    assert attention_scale(64, base_head_dim=16) == pytest.approx(4 / 64)


def test_mup_bad_values() -> None:
    with pytest.raises(ValueError, match="bogus"):
        lr_multiplier((2, 2), (2, 2), "bogus")
    with pytest.raises(ValueError, match="-1"):
        mup_param_groups(MupMLP(3, 4, 2), {}, lr=-1)
    with pytest.raises(ValueError, match="1.weight"):
        mup_param_groups(MupMLP(3, 4, 2), {}, lr=1)
    with pytest.raises(ValueError, match="0.0"):
        MuReadout(4, 2, width_mult=0.0)


def test_readout_zero_init_and_scale() -> None:
    assert MuReadout(8, 3, width_mult=4.0, zero_init=True).weight.abs().sum() == 0
    torch.manual_seed(0)
    plain = torch.nn.Linear(8, 3)
    torch.manual_seed(0)
    mu = MuReadout(8, 3, width_mult=4.0)
    torch.testing.assert_close(mu.weight, plain.weight * 2.0)


def test_unit_scaling_rms_and_gradients() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(UnitScaledLinear(64, 512), UnitScaledReLU(), UnitScaledLinear(512, 10))
    x = torch.randn(256, 64, requires_grad=True)
    h = net[0](x)
    h.retain_grad()
    loss = unit_scaled_cross_entropy(net[2](net[1](h)), torch.randint(0, 10, (256,)))
    loss.backward()
    rms = lambda t: t.pow(2).mean().sqrt().item()  # noqa: E731
    for t in (net[0].weight, h, h.grad, x.grad, net[0].weight.grad, net[2].weight.grad):
        assert 0.5 < rms(t) < 2.0


def test_unit_scaled_linear_true_gradient_direction() -> None:
    torch.manual_seed(1)
    lin = UnitScaledLinear(6, 5)
    x = torch.randn(4, 6)
    lin(x).sum().backward()
    w = lin.weight.detach().requires_grad_()
    (F.linear(x, w) / math.sqrt(6) + lin.bias.detach()).sum().backward()
    torch.testing.assert_close(lin.weight.grad, w.grad * math.sqrt(6) / math.sqrt(4))
    with pytest.raises(ValueError, match=r"\(3, 4, 6\)"):
        lin(torch.randn(3, 4, 6))


def test_mup_mlp_hidden_bias_departure_is_as_documented():
    """nn/mup.py Departure 3: hidden biases keep nn.Linear's U(±1/√width) init (mup keeps them Θ(1))."""
    from deltalab.nn.mup import MupMLP

    for width in (64, 1024):
        torch.manual_seed(0)
        hidden = MupMLP(16, width, 10, num_layers=2)[3]
        assert hidden.bias.abs().max() <= 1 / width**0.5
        assert hidden.bias.std().item() == pytest.approx((1 / 3) ** 0.5 / width**0.5, rel=0.25)
