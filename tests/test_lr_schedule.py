"""The lr-schedule experiment's grid trainer: the side-by-side runs are torch's SGD(weight_decay) runs,
cosine-annealed like CosineAnnealingLR, scored by the objective SGD minimizes (CE + wd/2·‖θ‖²)."""

import math

import torch
import torch.nn.functional as F

from deltalab.data import load_digits
from deltalab.experiments.optimizers_digits import _sgd_runs
from deltalab.models.mlp import MLP


def _reference(seed, lr, cosine, epochs, batch_size, wd):
    """One run with torch's own SGD and CosineAnnealingLR, full batches only; per-epoch objective."""
    d = load_digits()
    x, y = d.x_train, d.y_train
    torch.manual_seed(seed)
    model = MLP(64, [64], 10)
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd)
    steps = len(x) // batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps) if cosine else None
    g = torch.Generator().manual_seed(seed)
    curve = []
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, steps * batch_size, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
        with torch.no_grad():
            sq = sum(p.pow(2).sum() for p in model.parameters())
            curve.append((F.cross_entropy(model(x), y) + 0.5 * wd * sq).item())
    return curve


def test_sgd_runs_match_torch_sgd_and_cosine_annealing():
    seed, epochs, batch_size, wd = 3, 2, 32, 5e-3
    rates, cosine = [0.1, 0.4, 0.4], [False, False, True]
    curves, tail = _sgd_runs(seed, rates, cosine, [0, 0, 0], epochs, batch_size, wd, tail_evals=3)
    assert curves.shape == (3, epochs) and tail.shape == (3,)
    for r, (lr, cos) in enumerate(zip(rates, cosine)):
        ref = _reference(seed, lr, cos, epochs, batch_size, wd)
        torch.testing.assert_close(curves[r], torch.tensor(ref), rtol=1e-4, atol=1e-5)
    # the cosine run has the constant run's rate at first and less later: a different trajectory
    assert not torch.allclose(curves[1], curves[2])
    assert all(math.isfinite(v) for v in tail.tolist())


def test_sgd_runs_orders_share_init_and_differ_by_minibatches():
    curves, _ = _sgd_runs(0, [0.2] * 3, [True] * 3, [0, 1, 0], 1, 32, 5e-3, tail_evals=2)
    torch.testing.assert_close(curves[0], curves[2])  # same rate, same order: the same run
    assert not torch.allclose(curves[0], curves[1])  # another minibatch order: another run
