"""Chapter T: random search vs grid search at equal trial budgets, selected by k-fold CV.

Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 13 (2012). The search
loop and the folds are ``deltalab.train.tune``; this module only defines the problem: softmax
regression on digits trained by full-batch gradient descent, whose four hyperparameters are the
learning rate (which matters) and three that barely do over their ranges (init scale, weight
decay, label smoothing) — the low effective dimensionality of the paper.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
import torch.nn.functional as F

from deltalab.data import load_digits
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.train.tune import Uniform, cross_val_score, tune

REPEATS, FOLDS = 10, 3
"""Repeats of the whole comparison (new folds and random draws each) and CV folds: the claim asks for
≥ 5 repeats and k-fold selection, checked in tests/test_random_search.py (fixed by construction)."""

SPACE = {
    "lr": Uniform(1e-3, 30.0, log=True),
    "init_std": Uniform(0.0, 1e-3),
    "weight_decay": Uniform(1e-7, 1e-5, log=True),
    "label_smoothing": Uniform(0.0, 0.01),
}


def fit_softmax(
    params: dict[str, Any], train: tuple[torch.Tensor, torch.Tensor], steps: int, seed: int
) -> torch.Tensor:
    """Full-batch GD on (label-smoothed, L2-penalized) softmax regression with its closed-form
    gradient Xᵀ(softmax(XW) − T)/N + λW; returns W (F+1, C) with the bias row last."""
    x, y = train
    g = torch.Generator().manual_seed(seed)
    xa = torch.cat([x, torch.ones(len(x), 1)], 1)  # (N, F+1)
    ls = params["label_smoothing"]
    target = F.one_hot(y, 10).float() * (1 - ls) + ls / 10  # (N, C)
    decay = torch.ones(xa.shape[1], 1)
    decay[-1] = 0  # no decay on the bias row
    w = params["init_std"] * torch.randn(xa.shape[1], 10, generator=g)  # (F+1, C)
    for _ in range(steps):
        grad = xa.T @ (torch.softmax(xa @ w, dim=1) - target) / len(x) + params["weight_decay"] * decay * w
        w = w - params["lr"] * grad
        if not torch.isfinite(w).all():
            break
    return w


def accuracy_of(w: torch.Tensor, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    x, y = data
    logits = torch.cat([x, torch.ones(len(x), 1)], 1) @ w
    if not torch.isfinite(logits).all():
        return 0.0
    return (logits.argmax(1) == y).float().mean().item()


@experiment(
    chapter="T",
    title="Random search beats grid search when few hyperparameters matter",
    claim="random search over hyperparameters finds good settings with fewer trials than a grid when few "
    "hyperparameters matter; cross-validation picks them without touching the test set",
)
def random_search(ctx: Context):
    """`deltalab run random-search` — claim random-search. 16 trials each (grid: 2 levels per
    hyperparameter), 3-fold CV on the digits training split scores every trial; 10 repeats (new
    folds and random draws each; 5 left the mean difference at +0.55 points at seed 1). Expected:
    the mean over repeats of random's best CV accuracy ≥ grid's (measured +0.89, +0.81, +0.85,
    +0.73, +0.93 points at seeds 0-4, random ahead or tied in 9 or 10 of the 10 repeats); the test
    accuracy of the selected settings, trained on the whole training split, reported. Quick
    profile: ~10 s."""
    d = load_digits()
    n_trials, repeats, folds, steps = ctx.pick(16, 81), REPEATS, FOLDS, 40
    best_r, best_g, test_r, test_g, curves = [], [], [], [], []
    for rep in range(repeats):
        seed = ctx.seed * 1000 + rep

        def fit_score(p: dict[str, Any], tr: tuple, va: tuple, seed: int = seed) -> float:
            return accuracy_of(fit_softmax(p, tr, steps, seed), va)

        objective = cross_val_score(fit_score, d.x_train, d.y_train, n_splits=folds, seed=seed)
        rnd = tune(objective, SPACE, n_trials, "random", seed=seed)
        grd = tune(objective, SPACE, n_trials, "grid")
        best_r.append(rnd.best_score)
        best_g.append(grd.best_score)
        curves.append({"random": rnd.best_so_far(), "grid": grd.best_so_far()})
        for res, out in ((rnd, test_r), (grd, test_g)):
            w = fit_softmax(res.best_params, (d.x_train, d.y_train), steps, seed)
            out.append(accuracy_of(w, (d.x_test, d.y_test)))
        ctx.log(
            f"repeat {rep}: random {rnd.best_score:.3f} (lr {rnd.best_params['lr']:.3g}) "
            f"grid {grd.best_score:.3f} (lr {grd.best_params['lr']:.3g})"
        )
    ctx.series("best_so_far", curves)

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for i, c in enumerate(curves):
        ax.plot(
            range(1, n_trials + 1),
            [100 * v for v in c["random"]],
            color="C0",
            alpha=0.6,
            label="random" if i == 0 else None,
        )
        ax.plot(
            range(1, n_trials + 1),
            [100 * v for v in c["grid"]],
            color="C1",
            alpha=0.6,
            label="grid" if i == 0 else None,
        )
    ax.set(
        xlabel="trial",
        ylabel=f"best {folds}-fold CV accuracy so far (%)",
        title="1 important + 3 unimportant hyperparameters",
    )
    ax.legend()
    ctx.savefig(fig)
    mean = statistics.fmean
    metrics = {
        "cv_best_random_mean": mean(best_r),
        "cv_best_grid_mean": mean(best_g),
        "random_minus_grid_cv": mean(best_r) - mean(best_g),
        "random_wins_or_ties": sum(r >= g for r, g in zip(best_r, best_g)) / repeats,
        "test_acc_random_pick": mean(test_r),
        "test_acc_grid_pick": mean(test_g),
        "repeats": repeats,
        "folds": folds,
    }
    bars = [Bar("random_minus_grid_cv", ">=", 0.0)]
    return ctx.result(
        metrics,
        bars,
        bar="at equal trial budgets, random search's best k-fold CV score ≥ grid's "
        "(mean over ≥ 5 repeats); the test set only scores the final picks",
        config={
            "n_trials": n_trials,
            "repeats": repeats,
            "folds": folds,
            "gd_steps": steps,
            "space": {k: vars(v) for k, v in SPACE.items()},
        },
    )
