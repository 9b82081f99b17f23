"""The k-armed Gaussian bandit of Sutton & Barto (2018, §2.3): arm means q*(a) ~ N(0, 1), rewards N(q*(a), 1)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class KArmedBandit(gym.Env):
    """One state, ``k`` actions; episodes never terminate (truncate them yourself)."""

    def __init__(self, k: int = 10, seed: int | None = None) -> None:
        if k < 2:
            raise ValueError(f"k must be >= 2, got {k}")
        self.k = k
        self.action_space = gym.spaces.Discrete(k)
        self.observation_space = gym.spaces.Discrete(1)
        self.means = np.zeros(k)
        self.reset(seed=seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.means = self.np_random.normal(0.0, 1.0, size=self.k)
        return 0, {"optimal_action": int(np.argmax(self.means))}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not 0 <= action < self.k:
            raise ValueError(f"action must be in [0, {self.k}), got {action}")
        reward = float(self.np_random.normal(self.means[action], 1.0))
        return 0, reward, False, False, {"regret": float(self.means.max() - self.means[action])}
