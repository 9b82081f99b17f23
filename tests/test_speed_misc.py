"""Speedups of random-search, lottery-ticket and resnet-depth: the batched code computes what the
one-at-a-time code did."""

import math

import pytest
import torch
import torch.nn.functional as F

from deltalab.experiments.random_search import SPACE, accuracies, fit_softmax_many
from deltalab.train.tune import TuneResult, Uniform, cross_val_score, cross_val_scores, random_points


def _fit_softmax_one(p, x, y, steps, seed):
    """The former one-trial loop of random-search (reference)."""
    g = torch.Generator().manual_seed(seed)
    xa = torch.cat([x, torch.ones(len(x), 1)], 1)
    ls = p["label_smoothing"]
    target = F.one_hot(y, 10).float() * (1 - ls) + ls / 10
    decay = torch.ones(xa.shape[1], 1)
    decay[-1] = 0
    w = p["init_std"] * torch.randn(xa.shape[1], 10, generator=g)
    for _ in range(steps):
        grad = xa.T @ (torch.softmax(xa @ w, dim=1) - target) / len(x) + p["weight_decay"] * decay * w
        w = w - p["lr"] * grad
        if not torch.isfinite(w).all():
            break
    return w


def test_stacked_softmax_fits_match_one_at_a_time():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(120, 6, generator=g), torch.randint(0, 10, (120,), generator=g)
    points = [dict(p, lr=min(p["lr"], 1.0)) for p in random_points(SPACE, 6, seed=1)]
    points.append(dict(points[0], lr=math.inf))  # diverges at once
    w, dead = fit_softmax_many(points, (x, y), 15, seed=3)
    assert w.shape == (7, 7, 10) and dead.tolist() == [False] * 6 + [True]
    for i, p in enumerate(points[:-1]):
        torch.testing.assert_close(w[i], _fit_softmax_one(p, x, y, 15, 3), rtol=1e-4, atol=1e-5)
    acc = accuracies(w, dead, (x, y))
    assert acc[-1] == 0.0
    ref = [
        (torch.cat([x, torch.ones(len(x), 1)], 1) @ w[i]).argmax(1).eq(y).float().mean().item()
        for i in range(6)
    ]
    assert acc[:-1] == pytest.approx(ref)


def test_cross_val_scores_matches_cross_val_score():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 3, generator=g), torch.arange(60) % 3
    space = {"a": Uniform(0.0, 1.0)}
    pts = random_points(space, 5, seed=0)

    def fit_score(p, tr, va):
        return p["a"] * tr[0].sum().item() + va[0].mean().item()

    one = cross_val_score(fit_score, x, y, n_splits=3, seed=4)
    many = cross_val_scores(lambda ps, tr, va: [fit_score(p, tr, va) for p in ps], x, y, n_splits=3, seed=4)
    assert many(pts) == pytest.approx([one(p) for p in pts])


def test_from_scores_treats_nonfinite_as_minus_inf():
    res = TuneResult.from_scores([{"a": 1}, {"a": 2}, {"a": 3}], [0.5, math.nan, 0.7])
    assert res.trials[1][1] == -math.inf and res.best_params == {"a": 3}
    with pytest.raises(ValueError):
        TuneResult.from_scores([{"a": 1}], [])


def test_trainer_resumed_after_max_steps_matches_one_run():
    """resnet-depth's halving stops every rate at ``max_steps`` and lets the finalists continue."""
    import dataclasses

    from torch import nn

    from deltalab.train import TrainConfig, Trainer

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 5, generator=g), torch.randint(0, 3, (100,), generator=g)

    def trainer(max_steps):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        cfg = TrainConfig(epochs=3, batch_size=16, seed=2, eval_every=5, max_steps=max_steps)
        return Trainer(
            model, cfg, optimizer=opt, scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(opt, 21)
        )

    whole, split = trainer(None), trainer(10)
    whole.fit((x, y))
    split.fit((x, y))
    assert split.step == 10
    split.config = dataclasses.replace(split.config, max_steps=None)
    split.fit((x, y))
    assert split.history == whole.history and split.step == whole.step == 21
    for a, b in zip(whole.model.state_dict().values(), split.model.state_dict().values()):
        assert torch.equal(a, b)


def test_early_stopped_fit_scores_kept_weights_and_leaves_fresh_pruned_weights():
    """lottery-ticket keeps the weights of the lowest validation loss and scores them on the test
    set once, at the end; the model is left at its last step with its pruned layers' ``weight``
    recomputed from the restored ``weight_orig`` (magnitude pruning reads it)."""
    from deltalab.eval.metrics import accuracy
    from deltalab.experiments.pruning import adam_steps, mlp
    from deltalab.experiments.pruning.lottery import fit_early_stopped
    from deltalab.prune.magnitude import prune_layerwise

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 40, generator=g), torch.randint(0, 10, (300,), generator=g)
    train, val, test = (x[:200], y[:200]), (x[200:250], y[200:250]), (x[250:], y[250:])

    def pruned():
        return prune_layerwise(mlp(40, 32, 1, 0), 0.5)

    model = pruned()
    acc, step = fit_early_stopped(model, train, val, test, 80, 1e-2, 32, seed=1, every=10)
    assert 10 <= step < 80  # random labels: the validation loss turns up before the end
    assert acc == accuracy(adam_steps(pruned(), *train, step, 1e-2, 32, seed=1), *test)
    last = adam_steps(pruned(), *train, 80, 1e-2, 32, seed=1)
    for a, b in zip(model.parameters(), last.parameters()):
        assert torch.equal(a, b)
    for m in (model[0], model[2]):
        assert torch.equal(m.weight, m.weight_orig * m.weight_mask)
