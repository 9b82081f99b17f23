"""The tune helper: grid and random points, k-fold CV objective, selection."""

import math

import numpy as np
import pytest
import torch

from deltalab.train.tune import (
    Choice,
    Uniform,
    cross_val_score,
    grid_points,
    kfold_indices,
    random_points,
    tune,
)

SPACE = {"lr": Uniform(1e-3, 1.0, log=True), "a": Uniform(0, 1), "b": Uniform(0, 1), "c": Choice(("x", "y"))}


def test_grid_levels_and_budget():
    pts = grid_points(SPACE, 16)
    assert len(pts) == 16
    assert sorted({p["lr"] for p in pts}) == pytest.approx([10**-2.25, 10**-0.75])
    assert len({p["lr"] for p in random_points(SPACE, 16, seed=0)}) == 16
    assert len(grid_points({"a": Uniform(0, 1)}, 5)) == 5


def test_random_is_seeded_and_in_range():
    a, b = random_points(SPACE, 50, seed=3), random_points(SPACE, 50, seed=3)
    assert a == b
    assert all(1e-3 <= p["lr"] <= 1 and p["c"] in ("x", "y") for p in a)


def test_random_beats_grid_on_one_important_dimension():
    obj = lambda p: -((math.log10(p["lr"]) + 1.6) ** 2)  # optimum lr = 10^-1.6, others irrelevant
    grid = tune(obj, SPACE, 16, "grid")
    wins = sum(tune(obj, SPACE, 16, "random", seed=s).best_score >= grid.best_score for s in range(10))
    assert wins >= 8
    res = tune(obj, SPACE, 16, "random", seed=0)
    assert res.best_so_far()[-1] == res.best_score and res.best_params["lr"] > 0


def test_nonfinite_trial_never_selected():
    res = tune(lambda p: float("nan") if p["a"] > 0.5 else p["a"], {"a": Uniform(0, 1)}, 4, "grid")
    assert res.best_params["a"] < 0.5


def test_cross_val_score_uses_every_fold_once():
    x = torch.arange(30.0).unsqueeze(1)
    y = torch.arange(30) % 3
    seen = []

    def fit_score(params, train, val):
        seen.append(val[0].squeeze(1).tolist())
        return float(len(val[0]))

    assert cross_val_score(fit_score, x, y, n_splits=3)({"k": 1}) == 10.0
    assert sorted(sum(seen, [])) == list(range(30))
    for tr, va in kfold_indices(y, 3):
        assert np.intersect1d(tr, va).size == 0


def test_bad_values():
    with pytest.raises(ValueError, match="bogus"):
        tune(lambda p: 0.0, SPACE, 4, "bogus")
    with pytest.raises(ValueError, match="low=1"):
        Uniform(1, 0)
    with pytest.raises(ValueError, match="0"):
        random_points(SPACE, 0)
    with pytest.raises(ValueError, match="1"):
        kfold_indices(torch.zeros(4), 1)
