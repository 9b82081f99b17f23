"""Unit scaling's rules: layer outputs, input and weight gradients at RMS ≈ 1 across widths and batches."""

from __future__ import annotations

import math

import pytest
import torch

from deltalab.nn.unit_scaling import UnitScaledLinear, grad_weight_scale


def rms(t: torch.Tensor) -> float:
    return t.pow(2).mean().sqrt().item()


@pytest.mark.parametrize("width", [64, 512, 2048])
@pytest.mark.parametrize("batch", [8, 256, 1024])
def test_paper_rule_unit_rms_for_uncorrelated_terms(width: int, batch: int) -> None:
    """N(0,1) inputs and output gradients (independent samples): output, ∂x and ∂W all at RMS ≈ 1."""
    torch.manual_seed(0)
    lin = UnitScaledLinear(width, 256, bias=False)
    x = torch.randn(batch, width, requires_grad=True)
    y = lin(x)
    y.backward(torch.randn_like(y))
    for t in (y, x.grad, lin.weight.grad):
        assert rms(t) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("width", [64, 512])
@pytest.mark.parametrize("batch", [8, 64, 256, 1024])
def test_crossover_rule_unit_rms_for_correlated_terms(width: int, batch: int) -> None:
    """Per-sample ∂W terms sharing a mean of squared size c² = 1/B₀: the crossover rule keeps ∂W at ≈ 1."""
    b0 = 32.0
    torch.manual_seed(1)
    lin = UnitScaledLinear(width, 128, bias=False, crossover_batch=b0)
    # x and ∂y share a per-entry mean m with m_out·m_in ~ N(0, 1/B₀): E[∂y_b x_bᵀ] has RMS 1/√B₀
    m_in, m_out = torch.randn(width) * b0**-0.25, torch.randn(128) * b0**-0.25
    x = (torch.randn(batch, width) + m_in) / math.sqrt(1 + b0**-0.5)
    y = lin(x)
    y.backward((torch.randn(batch, 128) + m_out) / math.sqrt(1 + b0**-0.5))
    assert rms(lin.weight.grad) == pytest.approx(1.0, abs=0.3)
    assert rms(y) == pytest.approx(1.0, abs=0.25)


def test_grad_weight_scale_limits_and_bias() -> None:
    assert grad_weight_scale(256) == 1 / 16
    assert grad_weight_scale(1, 32) == pytest.approx(1 / math.sqrt(1 + 1 / 32))
    assert grad_weight_scale(10**6, 32) == pytest.approx(math.sqrt(32) / 10**6, rel=1e-4)  # a mean × √B₀
    lin = UnitScaledLinear(4, 3, crossover_batch=8)
    x = torch.randn(16, 4)
    lin(x).sum().backward()
    scale = grad_weight_scale(16, 8)
    torch.testing.assert_close(lin.bias.grad, torch.full((3,), 16 * scale))
    torch.testing.assert_close(lin.weight.grad, torch.ones(3, 16) @ x * scale)
    with pytest.raises(ValueError, match="-1"):
        UnitScaledLinear(4, 3, crossover_batch=-1)
    with pytest.raises(ValueError, match="0"):
        grad_weight_scale(0)
