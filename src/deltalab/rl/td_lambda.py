"""TD(λ) with eligibility traces (Sutton 1988, "Learning to predict by the methods of temporal differences").

    δ_t = R_{t+1} + γ V(S_{t+1}) - V(S_t)
    e_t = γ λ e_{t-1} + ∇V(S_t)            (accumulating trace; ∇V = one-hot for a table)
    w  ← w + α δ_t e_t

``td_lambda_tabular`` runs the online tabular form on pre-sampled random-walk episodes for a whole
grid of step sizes and many runs at once (numpy; A step sizes, R runs, S states). The same update with
a network's gradient as the trace is in :mod:`deltalab.rl.td_gammon`.
Departures: none (accumulating traces, as in Sutton & Barto 2018 Fig. 12.3's TD(λ)).
"""

from __future__ import annotations

import numpy as np

from deltalab.rl.envs.random_walk import RandomWalk


def sample_walks(env: RandomWalk, runs: int, episodes: int, seed: int) -> list[list[np.ndarray]]:
    """``walks[r][e]``: the visited states of episode ``e`` of run ``r``, start to terminal: (T+1,)."""
    if runs <= 0 or episodes <= 0:
        raise ValueError(f"runs and episodes must be > 0, got {runs}, {episodes}")
    env.reset(seed=seed)
    walks = []
    for _ in range(runs):
        eps = []
        for _ in range(episodes):
            s, _ = env.reset()
            states = [s]
            done = False
            while not done:
                s, _, done, _, _ = env.step(0)
                states.append(s)
            eps.append(np.array(states))
        walks.append(eps)
    return walks


def td_lambda_tabular(
    walks: list[list[np.ndarray]],
    n_states: int,
    lam: float,
    alphas: np.ndarray,
    true_v: np.ndarray,
    gamma: float = 1.0,
) -> np.ndarray:
    """Online TD(λ) on every run for every α; returns RMS error after each episode: (A, R, E).

    Reward is -1 / +1 on entering the left / right terminal (states 0 and n+1), else 0.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    n_a, n_r, n_e = len(alphas), len(walks), len(walks[0])
    v = np.zeros((n_a, n_r, n_states + 2))  # (A, R, S+2); terminals stay 0
    al = np.asarray(alphas, dtype=np.float64)[:, None]  # (A, 1)
    rms = np.zeros((n_a, n_r, n_e))
    runs = np.arange(n_r)
    with np.errstate(over="ignore", invalid="ignore"):
        for e in range(n_e):
            eps = [walks[r][e] for r in range(n_r)]
            length = max(len(w) for w in eps) - 1
            pad = np.zeros((n_r, length + 1), dtype=np.int64)  # (R, T+1); after the end: stay terminal
            alive = np.zeros((n_r, length), dtype=bool)
            for r, w in enumerate(eps):
                pad[r, : len(w)] = w
                pad[r, len(w) :] = w[-1]
                alive[r, : len(w) - 1] = True
            trace = np.zeros((n_a, n_r, n_states + 2))
            for t in range(length):
                s, s2 = pad[:, t], pad[:, t + 1]  # (R,)
                reward = np.where(s2 == n_states + 1, 1.0, np.where(s2 == 0, -1.0, 0.0))
                delta = reward + gamma * v[:, runs, s2] - v[:, runs, s]  # (A, R)
                delta = np.where(alive[:, t], delta, 0.0)
                trace *= gamma * lam
                trace[:, runs, s] += alive[:, t]
                v += al[:, :, None] * delta[:, :, None] * trace
            err = v[:, :, 1 : n_states + 1] - true_v  # (A, R, S)
            rms[:, :, e] = np.sqrt(np.mean(err**2, axis=2))
    return rms
