"""μP's hidden-bias init option and the LR-transfer measurement's helpers (bracketing, parabola)."""

from __future__ import annotations

import pytest
import torch

from deltalab.experiments.optimizers_mup_transfer import bracket_search, parabola_argmin
from deltalab.nn.mup import MupMLP


@pytest.mark.parametrize("width", [64, 256, 1024])
def test_mup_bias_init_is_width_independent(width: int) -> None:
    """mup_bias_init: hidden biases ~ U(±1/√base_width) at every width (the mup package's rule)."""
    torch.manual_seed(0)
    bias = MupMLP(16, width, 10, num_layers=2, base_width=64, mup_bias_init=True)[3].bias
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
    from deltalab.experiments.optimizers_mup_transfer import BASE_WIDTH, final_loss

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 40, generator=g), torch.randint(0, 10, (256,), generator=g)
    for lr in (2.0**-8, 2.0**-4):
        assert final_loss(BASE_WIDTH, lr, True, x, y, 8, 0) == final_loss(BASE_WIDTH, lr, False, x, y, 8, 0)
    assert final_loss(4 * BASE_WIDTH, 2.0**-4, True, x, y, 8, 0) != final_loss(
        4 * BASE_WIDTH, 2.0**-4, False, x, y, 8, 0
    )


def test_mup_init_follows_the_mup_package_rescaling() -> None:
    """The mup package's set_base_shapes rescales an SP-initialized model: each nn.Linear's bias by
    √(fan-in multiplier) (``rescale_linear_bias``: hidden only, the input's fan-in is fixed) and the
    readout's weight and bias by √m (``MuOutput._rescale_parameters``)."""
    width, base = 512, 64
    torch.manual_seed(0)
    sp = MupMLP(16, width, 10, num_layers=2, base_width=base, mup=False)
    torch.manual_seed(0)
    mu = MupMLP(16, width, 10, num_layers=2, base_width=base, mup=True, mup_bias_init=True)
    m = width / base
    torch.testing.assert_close(mu[1].bias, sp[1].bias, rtol=0, atol=0)
    torch.testing.assert_close(mu[3].bias, sp[3].bias * m**0.5)
    torch.testing.assert_close(mu[5].weight, sp[5].weight * m**0.5)
    torch.testing.assert_close(mu[5].bias, sp[5].bias * m**0.5)


def test_mup_adam_rates() -> None:
    from deltalab.optim.mup import base_shapes, mup_adam, mup_param_groups

    model = MupMLP(16, 256, 10, base_width=64)
    base = base_shapes(MupMLP(16, 64, 10, base_width=64))
    sp = mup_adam(model, None, 0.1)
    assert [g["lr"] for g in sp.param_groups] == [0.1]
    mu = mup_adam(model, base, 0.1)
    assert [g["lr"] for g in mu.param_groups] == [g["lr"] for g in mup_param_groups(model, base, 0.1)]
    assert sorted(g["lr"] for g in mu.param_groups) == [0.025, 0.1]


def test_coord_changes_mup_is_sp_at_base_width_and_shapes() -> None:
    from deltalab.experiments.optimizers_mup import BASE_WIDTH, LAYERS, coord_changes

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 40, generator=g), torch.randint(0, 10, (32,), generator=g)
    mu = coord_changes(BASE_WIDTH, True, x, y, 1e-2, 3, 0)
    sp = coord_changes(BASE_WIDTH, False, x, y, 1e-2, 3, 0)
    assert mu.shape == (3, len(LAYERS)) and (mu > 0).all()
    torch.testing.assert_close(mu, sp, rtol=0, atol=0)


def test_transfer_mlp_has_tp5_standard_init() -> None:
    """mup-lr-transfer's MLP: weights N(0, 1/fan_in) (TP5 Table 3's SP), μP's readout × √m on top."""
    from deltalab.experiments.optimizers_mup_transfer import make_mlp

    torch.manual_seed(0)
    sp, mu = make_mlp(1024, False), make_mlp(1024, True)
    for model, readout_gain in ((sp, 1.0), (mu, 4.0)):
        for i, gain in ((1, 1.0), (3, 1.0), (5, readout_gain)):
            w = model[i].weight
            assert w.std().item() == pytest.approx(gain / w.size(1) ** 0.5, rel=0.1)


def test_least_squares_parabola_matches_lapack() -> None:
    """The centred fit gives LAPACK's least-squares parabola on raw x (to rounding), bit-identically
    from call to call."""
    from deltalab.experiments.optimizers_mup_transfer import _least_squares_parabola

    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        xs = sorted((torch.rand(5, generator=g, dtype=torch.float64) * 12 - 14).tolist())
        ys = (torch.rand(5, generator=g, dtype=torch.float64) + 0.5).tolist()
        ref = torch.linalg.lstsq(
            torch.tensor([[u * u, u, 1.0] for u in xs], dtype=torch.float64),
            torch.tensor(ys, dtype=torch.float64),
        ).solution.tolist()
        got = _least_squares_parabola(xs, ys)
        assert got == pytest.approx(ref, rel=1e-8, abs=1e-8)
        assert _least_squares_parabola(xs, ys) == got
