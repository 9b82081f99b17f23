"""Tabular Q-learning (Watkins & Dayan 1992) and value iteration (Bellman 1957) as the optimum to compare with.

    Q(S, A) ← Q(S, A) + α [R + γ max_a Q(S', a) · (1 - terminated) - Q(S, A)]
    V(s)    ← max_a Σ_{s'} P(s' | s, a) [r + γ V(s')]          (value iteration, on the known model)

Works on any gymnasium env with discrete observations and actions (FrozenLake-v1 here); value
iteration reads the model from ``env.unwrapped.P`` (the toy-text convention).
The step size α decays linearly from ``alpha`` to ``alpha_end`` over training (Robbins–Monro: a
constant α keeps the table moving with every slippery transition, and the greedy policy read at the
end is then wherever the last updates left near-tied actions).
Departures: none; ties in argmax go to a random maximizer while acting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from deltalab.rl.schedules import linear_schedule


@dataclass
class QLearningConfig:
    """Tabular Q-learning with a linearly decaying ε and a linearly decaying step size α."""

    episodes: int = 20000
    """training episodes"""
    alpha: float = 0.1
    """initial step size α"""
    alpha_end: float = 0.0
    """step size at the last episode (linear decay from ``alpha``)"""
    gamma: float = 0.99
    """discount γ"""
    eps_start: float = 1.0
    """initial exploration rate"""
    eps_end: float = 0.05
    """final exploration rate"""
    eps_fraction: float = 0.5
    """fraction of the episodes over which ε decays"""

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if not 0 <= self.alpha_end <= self.alpha:
            raise ValueError(f"alpha_end must be in [0, alpha={self.alpha}], got {self.alpha_end}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.episodes <= 0:
            raise ValueError(f"episodes must be > 0, got {self.episodes}")


def q_learning(env: gym.Env, cfg: QLearningConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train; returns the table ``Q (S, A)`` and the return of every training episode ``(episodes,)``."""
    n_s, n_a = env.observation_space.n, env.action_space.n
    rng = np.random.default_rng(seed)
    q = np.zeros((n_s, n_a))
    returns = np.zeros(cfg.episodes)
    decay = max(1, int(cfg.eps_fraction * cfg.episodes))
    for ep in range(cfg.episodes):
        eps = linear_schedule(cfg.eps_start, cfg.eps_end, decay, ep)
        alpha = linear_schedule(cfg.alpha, cfg.alpha_end, cfg.episodes, ep)
        s, _ = env.reset(seed=seed if ep == 0 else None)
        done = False
        while not done:
            if rng.random() < eps:
                a = int(rng.integers(n_a))
            else:
                a = int(np.argmax(q[s] + 1e-12 * rng.random(n_a)))  # random tie-break
            s2, r, terminated, truncated, _ = env.step(a)
            td_target = r + cfg.gamma * q[s2].max() * (not terminated)
            q[s, a] += alpha * (td_target - q[s, a])
            returns[ep] += r
            s, done = s2, terminated or truncated
    return q, returns


def value_iteration(p: dict, n_states: int, n_actions: int, gamma: float, tol: float = 1e-10) -> np.ndarray:
    """Optimal ``Q* (S, A)`` from a toy-text model ``P[s][a] = [(prob, s', r, terminated), ...]``."""
    v = np.zeros(n_states)
    while True:
        q = np.zeros((n_states, n_actions))
        for s in range(n_states):
            for a in range(n_actions):
                q[s, a] = sum(pr * (r + gamma * v[s2] * (not term)) for pr, s2, r, term in p[s][a])
        v_new = q.max(axis=1)
        if np.max(np.abs(v_new - v)) < tol:
            return q
        v = v_new


def success_probability(p: dict, policy: np.ndarray, start: int, horizon: int) -> float:
    """Exact probability that ``policy`` (S,) collects the reward within ``horizon`` steps (finite-horizon DP)."""
    n_s = len(policy)
    win = np.zeros(n_s)  # P(success | s, steps left)
    for _ in range(horizon):
        new = np.zeros(n_s)
        for s in range(n_s):
            new[s] = sum(
                pr * (1.0 if r > 0 else (0.0 if term else win[s2]))
                for pr, s2, r, term in p[s][int(policy[s])]
            )
        win = new
    return float(win[start])


def greedy_policy(q: np.ndarray) -> np.ndarray:
    """``argmax_a Q(s, a)`` per state (first maximizer): (S,)."""
    return q.argmax(axis=1)


def evaluate_policy(env: gym.Env, act: Callable[[int], int], episodes: int, seed: int) -> float:
    """Mean return of ``act`` over ``episodes`` episodes (Monte Carlo, env seeded once with ``seed``)."""
    total = 0.0
    for i in range(episodes):
        s, _ = env.reset(seed=seed if i == 0 else None)
        done = False
        while not done:
            s, r, terminated, truncated, _ = env.step(act(s))
            total += r
            done = terminated or truncated
    return total / episodes
