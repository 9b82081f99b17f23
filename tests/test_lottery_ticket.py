"""The lottery-ticket experiment's early-stopped scoring (Frankle & Carbin's protocol)."""

import torch


def test_early_stopped_fit_scores_the_step_of_minimum_validation_loss():
    from deltalab.eval.metrics import accuracy
    from deltalab.experiments.pruning import adam_steps, mlp
    from deltalab.experiments.pruning.lottery import fit_early_stopped

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 40, generator=g), torch.randint(0, 10, (300,), generator=g)
    train, val, test = (x[:200], y[:200]), (x[200:250], y[200:250]), (x[250:], y[250:])
    acc, step = fit_early_stopped(mlp(40, 32, 1, 0), train, val, test, 60, 1e-2, 32, seed=1, every=10)
    assert step in range(10, 61, 10)
    # the same run stopped at that step scores the same test accuracy: the step is the one reported
    again = adam_steps(mlp(40, 32, 1, 0), *train, step, 1e-2, 32, seed=1)
    assert acc == accuracy(again, *test)
