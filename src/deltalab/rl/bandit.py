"""ε-greedy action selection with sample-average estimates (Sutton & Barto 2018, §2.2–2.4).

    A_t = argmax_a Q_t(a)      with probability 1 - ε_t, else a uniformly random arm
    Q_{t+1}(A_t) = Q_t(A_t) + (R_t - Q_t(A_t)) / N_t(A_t)

Runs ``B`` independent bandit problems at once (numpy, one row each), so that regret curves are
averaged over many problems in a fraction of a second. Shapes: B problems, K arms.
Departures: none; ``eps`` is any schedule ``t -> ε_t`` from :mod:`deltalab.rl.schedules`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def run_epsilon_greedy(
    means: np.ndarray, steps: int, eps: Callable[[int], float], rng: np.random.Generator, q_init: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Play ``steps`` pulls on each of the ``B`` problems with true arm ``means`` (B, K).

    Returns per-step regret ``max_a q*(a) - q*(A_t)`` averaged over problems (steps,) and the
    fraction of problems that pulled the optimal arm (steps,).
    """
    if means.ndim != 2:
        raise ValueError(f"means must have shape (B, K), got {means.shape}")
    if steps <= 0:
        raise ValueError(f"steps must be > 0, got {steps}")
    b, k = means.shape
    q = np.full((b, k), q_init, dtype=np.float64)  # (B, K) estimates
    n = np.zeros((b, k), dtype=np.int64)  # (B, K) pull counts
    rows = np.arange(b)
    best = means.max(axis=1)  # (B,)
    best_arm = means.argmax(axis=1)
    regret = np.empty(steps)
    optimal = np.empty(steps)
    for t in range(steps):
        e = eps(t)
        # ties in argmax broken at random so that an all-zero start does not favour arm 0
        greedy = np.argmax(q + 1e-9 * rng.random((b, k)), axis=1)
        explore = rng.random(b) < e
        a = np.where(explore, rng.integers(0, k, size=b), greedy)  # (B,)
        r = rng.normal(means[rows, a], 1.0)
        n[rows, a] += 1
        q[rows, a] += (r - q[rows, a]) / n[rows, a]
        regret[t] = float(np.mean(best - means[rows, a]))
        optimal[t] = float(np.mean(a == best_arm))
    return regret, optimal
