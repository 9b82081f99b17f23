"""Replay buffers: a uniform transition buffer (DQN) and a buffer of recent self-play positions (AlphaZero).

Both keep numpy arrays in a ring, so that ``add`` is O(1) and ``sample`` is one fancy index.
Shapes: N capacity, B batch, O observation size, A number of actions.
"""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """Uniform experience replay of transitions ``(s, a, r, s', done)`` (Lin 1992; DQN, arXiv:1312.5602)."""

    def __init__(self, capacity: int, obs_dim: int, seed: int = 0) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        if obs_dim <= 0:
            raise ValueError(f"obs_dim must be > 0, got {obs_dim}")
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, O)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, O)
        self.actions = np.zeros(capacity, dtype=np.int64)  # (N,)
        self.rewards = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.dones = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, done: bool) -> None:
        """Store one transition; ``done`` means terminated (not truncated), so no bootstrap."""
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.dones[i] = next_obs, float(done)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """``(obs (B,O), actions (B,), rewards (B,), next_obs (B,O), dones (B,))`` drawn uniformly."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)
        return self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.dones[idx]


class GameBuffer:
    """The most recent ``capacity`` self-play positions ``(x, π, z)``: encoded state, search policy, outcome."""

    def __init__(self, capacity: int, obs_dim: int, n_actions: int, seed: int = 0) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        self.capacity = capacity
        self.x = np.zeros((capacity, obs_dim), dtype=np.float32)  # (N, O)
        self.pi = np.zeros((capacity, n_actions), dtype=np.float32)  # (N, A)
        self.z = np.zeros(capacity, dtype=np.float32)  # (N,)
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, x: np.ndarray, pi: np.ndarray, z: float) -> None:
        i = self.pos
        self.x[i], self.pi[i], self.z[i] = x, pi, z
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)
        return self.x[idx], self.pi[idx], self.z[idx]
