"""The lr-schedule experiment's training objective: CE plus the L2 term SGD(weight_decay) minimizes."""

import torch

from deltalab.experiments.optimizers_digits import _objective


def test_objective_adds_half_wd_times_squared_norm():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    sq = sum(float(p.pow(2).sum()) for p in model.parameters())
    assert abs(_objective(model, 0.25, 1e-2) - (0.25 + 0.5 * 1e-2 * sq)) < 1e-9


def test_objective_gradient_matches_sgd_weight_decay():
    # SGD(weight_decay=wd) adds wd·θ to the gradient: that is the gradient of wd/2·‖θ‖²
    torch.manual_seed(0)
    w = torch.randn(4, requires_grad=True)
    wd = 0.3
    (0.5 * wd * w.pow(2).sum()).backward()
    torch.testing.assert_close(w.grad, wd * w.detach())
