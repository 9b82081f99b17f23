"""The 19-state random walk of Sutton & Barto (2018, Example 7.1 / Fig. 12.3).

States 1..19 (0 and 20 terminal), start in the middle (10), move left or right with probability
1/2; reward -1 on reaching the left end, +1 on the right, 0 otherwise; γ = 1. True values:
v(s) = (s - 10) / 10, i.e. -0.9, -0.8, ..., 0.9.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class RandomWalk(gym.Env):
    """A Markov reward process: ``step`` ignores its action (pass 0)."""

    def __init__(self, n_states: int = 19) -> None:
        if n_states < 3 or n_states % 2 == 0:
            raise ValueError(f"n_states must be an odd number >= 3, got {n_states}")
        self.n_states = n_states
        self.observation_space = gym.spaces.Discrete(n_states + 2)
        self.action_space = gym.spaces.Discrete(1)
        self.state = (n_states + 1) // 2

    def true_values(self) -> np.ndarray:
        """v(s) for s = 1..n: (n,)."""
        half = (self.n_states + 1) // 2
        return (np.arange(1, self.n_states + 1) - half) / half

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.state = (self.n_states + 1) // 2
        return self.state, {}

    def step(self, action: int = 0) -> tuple[int, float, bool, bool, dict[str, Any]]:
        self.state += 1 if self.np_random.random() < 0.5 else -1
        if self.state == 0:
            return self.state, -1.0, True, False, {}
        if self.state == self.n_states + 1:
            return self.state, 1.0, True, False, {}
        return self.state, 0.0, False, False, {}
