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


@pytest.mark.parametrize("variant", VARIANTS)
def test_rate_grid_in_one_pass_matches_separate_adam_runs(variant):
    """experiments.rezero.train_grid (K rates stacked) = K separate DeepFC + torch.optim.Adam runs."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from deltalab.experiments.rezero import train_grid

    ctx = SimpleNamespace(seed=3, device="cpu")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 12, generator=g), torch.randint(0, 10, (64,), generator=g)
    lrs, steps = [1e-3, 1e-2], 6
    finals, curves = train_grid(variant, lrs, steps, 8, 5, 16, ctx, x, y)
    for lr, final, curve in zip(lrs, finals, curves, strict=True):
        torch.manual_seed(ctx.seed)
        model = DeepFC(12, 8, 5, 10, variant)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        batches = torch.Generator().manual_seed(ctx.seed + 1)
        ref = []
        for _ in range(steps):
            idx = torch.randint(len(x), (16,), generator=batches)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            ref.append(loss.item())
        with torch.no_grad():
            ref_final = F.cross_entropy(model(x), y).item()
        assert curve == pytest.approx(ref, rel=1e-5, abs=1e-6)
        assert final == pytest.approx(ref_final, rel=1e-5, abs=1e-6)


def test_rate_grid_diverged_rate_scores_inf_and_spares_the_others():
    from types import SimpleNamespace

    from deltalab.experiments.rezero import train_grid

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 12, generator=g), torch.randint(0, 10, (64,), generator=g)
    ctx = SimpleNamespace(seed=0, device="cpu")
    finals, curves = train_grid("residual", [1e-3, 1e6], 30, 8, 16, 16, ctx, x, y)
    alone, _ = train_grid("residual", [1e-3], 30, 8, 16, 16, ctx, x, y)
    assert finals[1] == float("inf") and len(curves[1]) < 30
    assert finals[0] == pytest.approx(alone[0], rel=1e-5) and len(curves[0]) == 30
