"""μP's hidden-bias init option and the LR-transfer measurement's helpers (bracketing, parabola)."""

from __future__ import annotations

import pytest
import torch

from deltalab.experiments.optimizers_mup import bracket_search, parabola_argmin
from deltalab.nn.mup import MupMLP


@pytest.mark.parametrize("width", [64, 256, 1024])
def test_mup_bias_init_is_width_independent(width: int) -> None:
    """mup_bias_init: hidden biases ~ U(±1/√base_width) at every width (the mup package's rule)."""
    torch.manual_seed(0)
    bias = MupMLP(16, width, 10, depth=2, base_width=64, mup_bias_init=True)[3].bias
    assert bias.abs().max() <= 1 / 8
    assert bias.std().item() == pytest.approx((1 / 3) ** 0.5 / 8, rel=0.3)


def test_mup_bias_init_is_identity_at_base_width_and_off_for_sp() -> None:
    for kw in ({"mup": True}, {"mup": False}):
        torch.manual_seed(0)
        plain = MupMLP(16, 64 if kw["mup"] else 256, 10, base_width=64, **kw)
        torch.manual_seed(0)
        opt = MupMLP(16, 64 if kw["mup"] else 256, 10, base_width=64, mup_bias_init=True, **kw)
        for a, b in zip(plain.parameters(), opt.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_parabola_argmin_recovers_vertex() -> None:
    ks = [float(k) for k in range(-10, -2)]
    assert parabola_argmin(ks, [(k + 6.3) ** 2 for k in ks]) == pytest.approx(-6.3)


def test_bracket_search_brackets_and_skips_far_rates() -> None:
    grid = [float(k) for k in range(-14, -1)]
    calls: list[float] = []

    def loss(k: float) -> float:
        calls.append(k)
        return (k + 11.4) ** 2

    found = bracket_search(loss, grid, start=grid.index(-7.0))
    best = min(found, key=found.__getitem__)
    assert best == -11.0
    assert sum(k < best for k in found) >= 2 and sum(k > best for k in found) >= 2
    assert len(calls) == len(set(calls)) and len(calls) < len(grid)
    edge = bracket_search(lambda k: k, grid, start=2)  # monotone: stops at the grid's edge
    assert min(edge, key=edge.__getitem__) == grid[0]


def test_mup_is_sp_at_the_base_width() -> None:
    # mup-lr-transfer trains the base width's curve once for both arms: the losses must be identical
    from deltalab.experiments.optimizers_mup import BASE_WIDTH, final_loss

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 40, generator=g), torch.randint(0, 10, (256,), generator=g)
    for lr in (2.0**-8, 2.0**-4):
        assert final_loss(BASE_WIDTH, lr, True, x, y, 8, 0) == final_loss(BASE_WIDTH, lr, False, x, y, 8, 0)
    assert final_loss(4 * BASE_WIDTH, 2.0**-4, True, x, y, 8, 0) != final_loss(
        4 * BASE_WIDTH, 2.0**-4, False, x, y, 8, 0
    )
