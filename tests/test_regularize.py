"""L1 proximal step, weight elimination, exact-zero counting."""

import pytest
import torch
from torch import nn

from deltalab.train.regularize import (
    exact_zero_fraction,
    l1_penalty,
    l1_prox_,
    penalized_weights,
    weight_elimination,
)


def test_soft_threshold():
    w = torch.tensor([-1.0, -0.05, 0.0, 0.02, 0.5])
    l1_prox_([w], 0.1)
    torch.testing.assert_close(w, torch.tensor([-0.9, 0.0, 0.0, 0.0, 0.4]))
    assert exact_zero_fraction([w]) == 0.6
    assert l1_penalty([w]).item() == pytest.approx(1.3)


def test_prox_solves_lasso_1d():
    # argmin_w 0.5 (w - a)^2 + lam |w|  is the soft threshold of a by lam: proximal GD with lr=1 hits it
    a, lam = torch.tensor([2.0, 0.3, -0.7]), 0.5
    w = torch.zeros(3)
    for _ in range(5):
        w = w - 1.0 * (w - a)
        l1_prox_([w], 1.0 * lam)
    torch.testing.assert_close(w, torch.tensor([1.5, 0.0, -0.2]))


def test_weight_elimination_limits_and_grad():
    w = torch.tensor([1e-3, 1e3], requires_grad=True)
    val = weight_elimination([w], w0=1.0)
    assert val.item() == pytest.approx(1.0, abs=1e-5)  # small ≈ 0, large saturates at 1
    val.backward()
    assert w.grad[0] > 0 and abs(w.grad[1]) < 1e-6  # pushes small weights, spares large ones


def test_penalized_weights_skip_biases():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert [tuple(p.shape) for p in penalized_weights(net)] == [(4, 3), (2, 4)]


def test_bad_values():
    with pytest.raises(ValueError, match="-0.1"):
        l1_prox_([torch.zeros(2)], -0.1)
    with pytest.raises(ValueError, match="0"):
        weight_elimination([torch.zeros(2)], 0.0)
