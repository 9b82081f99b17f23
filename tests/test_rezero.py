"""ReZero: identity at init, α learns, the four depth-64 variants build and run."""

import pytest
import torch
from torch import nn

from deltalab.nn.rezero import VARIANTS, DeepFC, ReZero, toy_jacobian


def test_rezero_wrapper_is_identity_at_init_and_alpha_learns():
    torch.manual_seed(0)
    block = ReZero(nn.Sequential(nn.Linear(6, 6), nn.Tanh()))
    x = torch.randn(4, 6)
    assert torch.equal(block(x), x)
    block(x).pow(2).sum().backward()
    assert block.alpha.grad is not None and block.alpha.grad.abs() > 0
    assert block.fn[0].weight.grad.abs().sum() == 0  # α = 0 blocks the branch's gradient at first


def test_deep_rezero_stack_jacobian_is_identity():
    torch.manual_seed(0)
    model = DeepFC(10, 8, 64, 3, "rezero").double()
    jac = torch.autograd.functional.jacobian(model.blocks, torch.randn(1, 8, dtype=torch.float64))
    assert torch.equal(jac.reshape(8, 8), torch.eye(8, dtype=torch.float64))


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_forward_backward(variant):
    model = DeepFC(40, 16, 8, 10, variant)
    out = model(torch.randn(5, 40))
    assert out.shape == (5, 10) and torch.isfinite(out).all()
    out.sum().backward()


def test_toy_jacobian():
    assert toy_jacobian(0.0, 3.0, 100) == 1.0
    assert toy_jacobian(1.0, 1.0, 10) == 2.0**10


def test_bad_variant_raises():
    with pytest.raises(ValueError, match="'prenorm'"):
        DeepFC(4, 4, 2, 2, "prenorm")
