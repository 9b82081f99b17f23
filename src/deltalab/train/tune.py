"""Hyperparameter search: random vs grid search, with k-fold cross-validation doing the selection.

Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 13 (2012): when only
a few hyperparameters matter, a grid of n trials tries only n^(1/d) distinct values of each,
while random search tries n distinct values of every one — so at equal budgets random search
explores the important direction far better.

    grid:    k = floor(n^(1/d)) levels per dimension, at the centres of k equal cells
             (in log space for log-scaled ranges); the k^d points, first n of them
    random:  n independent draws from the prior of each dimension
    select:  argmax over trials of the mean k-fold validation score (the test set is never used)

A search space is a dict ``name → Uniform(low, high, log=...) | Choice(values)``.
:func:`tune` takes any ``objective(params) -> score`` (higher is better); :func:`cross_val_score`
turns a ``fit_score(params, train, val) -> score`` into that objective with k folds from
scikit-learn's ``KFold`` / ``StratifiedKFold``; :func:`cross_val_scores` does the same for a
``fit_score_many`` that fits many trials at once, and :meth:`TuneResult.from_scores` collects them.

Departures: grid levels sit at cell centres rather than on the range ends, which is the fairer
grid (end points of a log range are rarely good values).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Uniform:
    """A continuous range [low, high]; ``log=True`` samples log-uniformly (low > 0)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise ValueError(f"Uniform needs high > low, got low={self.low}, high={self.high}")
        if self.log and not self.low > 0:
            raise ValueError(f"a log-uniform range needs low > 0, got {self.low}")

    def _from_unit(self, u: float) -> float:
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def sample(self, rng: np.random.Generator) -> float:
        return self._from_unit(float(rng.random()))

    def levels(self, k: int) -> list[float]:
        return [self._from_unit((i + 0.5) / k) for i in range(k)]


@dataclass(frozen=True)
class Choice:
    """A finite set of values."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("Choice needs at least one value, got ()")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def levels(self, k: int) -> list[Any]:
        idx = np.linspace(0, len(self.values) - 1, min(k, len(self.values))).round().astype(int)
        return [self.values[i] for i in dict.fromkeys(idx.tolist())]


Space = Mapping[str, Uniform | Choice]


def _check(space: Space, n_trials: int) -> None:
    if not space:
        raise ValueError("search space is empty: give at least one hyperparameter")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")


def grid_points(space: Space, n_trials: int) -> list[dict[str, Any]]:
    """At most ``n_trials`` points of the full grid with floor(n_trials^(1/d)) levels per dimension."""
    _check(space, n_trials)
    k = max(1, int(math.floor(n_trials ** (1 / len(space)) + 1e-9)))
    axes = [space[name].levels(k) for name in space]
    return [dict(zip(space, combo)) for combo in itertools.product(*axes)][:n_trials]


def random_points(space: Space, n_trials: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n_trials`` independent draws from ``space``."""
    _check(space, n_trials)
    rng = np.random.default_rng(seed)
    return [{name: dist.sample(rng) for name, dist in space.items()} for _ in range(n_trials)]


@dataclass
class TuneResult:
    """Every trial (params, score) and the best one."""

    trials: list[tuple[dict[str, Any], float]] = field(default_factory=list)

    @property
    def best_params(self) -> dict[str, Any]:
        return max(self.trials, key=lambda t: t[1])[0]

    @property
    def best_score(self) -> float:
        return max(score for _, score in self.trials)

    def best_so_far(self) -> list[float]:
        """Running maximum of the score, trial by trial."""
        return np.maximum.accumulate([s for _, s in self.trials]).tolist()

    @classmethod
    def from_scores(cls, points: Sequence[dict[str, Any]], scores: Sequence[float]) -> TuneResult:
        """The result of trials scored elsewhere (e.g. all at once by :func:`cross_val_scores`);
        a non-finite score counts as -inf, as in :func:`tune`."""
        if len(points) != len(scores):
            raise ValueError(f"got {len(points)} points but {len(scores)} scores")
        return cls([(p, float(s) if math.isfinite(s) else -math.inf) for p, s in zip(points, scores)])


def tune(
    objective: Callable[[dict[str, Any]], float],
    space: Space,
    n_trials: int,
    method: str = "random",
    seed: int = 0,
) -> TuneResult:
    """Evaluate ``objective`` on ``n_trials`` points chosen by ``method`` ("random" or "grid");
    a non-finite score counts as -inf (a diverged trial is never selected)."""
    if method not in ("random", "grid"):
        raise ValueError(f"method must be 'random' or 'grid', got {method!r}")
    points = random_points(space, n_trials, seed) if method == "random" else grid_points(space, n_trials)
    res = TuneResult()
    for p in points:
        s = float(objective(p))
        res.trials.append((p, s if math.isfinite(s) else -math.inf))
    return res


Data = tuple[torch.Tensor, torch.Tensor]


def kfold_indices(
    y: torch.Tensor, n_splits: int, seed: int = 0, stratify: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, val_idx) pairs of a shuffled (stratified) k-fold split, via scikit-learn."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    cls = StratifiedKFold if stratify else KFold
    y_np = y.cpu().numpy()
    return list(cls(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y_np)), y_np))


def cross_val_score(
    fit_score: Callable[[dict[str, Any], Data, Data], float],
    x: torch.Tensor,
    y: torch.Tensor,
    n_splits: int = 3,
    seed: int = 0,
    stratify: bool = True,
) -> Callable[[dict[str, Any]], float]:
    """The objective ``params -> mean over k folds of fit_score(params, train_fold, val_fold)``."""
    folds = kfold_indices(y, n_splits, seed, stratify)

    def objective(params: dict[str, Any]) -> float:
        scores: Sequence[float] = [fit_score(params, (x[tr], y[tr]), (x[va], y[va])) for tr, va in folds]
        return float(np.mean(scores))

    return objective


def cross_val_scores(
    fit_score_many: Callable[[Sequence[dict[str, Any]], Data, Data], Sequence[float]],
    x: torch.Tensor,
    y: torch.Tensor,
    n_splits: int = 3,
    seed: int = 0,
    stratify: bool = True,
) -> Callable[[Sequence[dict[str, Any]]], list[float]]:
    """:func:`cross_val_score` for a ``fit_score_many(points, train, val) -> scores`` that fits all
    trials at once (e.g. as stacked models): the objective ``points -> [mean over k folds]``."""
    folds = kfold_indices(y, n_splits, seed, stratify)

    def objective(points: Sequence[dict[str, Any]]) -> list[float]:
        per_fold = [fit_score_many(points, (x[tr], y[tr]), (x[va], y[va])) for tr, va in folds]
        if any(len(s) != len(points) for s in per_fold):
            raise ValueError(f"fit_score_many must return one score per point ({len(points)})")
        return [float(v) for v in np.mean(np.asarray(per_fold, dtype=float), axis=0)]

    return objective
