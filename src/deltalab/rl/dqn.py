"""Deep Q-network (Mnih et al. 2015, "Human-level control through deep RL"; arXiv:1312.5602 for the first version).

    y = r + γ (1 - terminated) max_a' Q_target(s', a')
    loss = Huber(Q(s, a) - y)          (smooth L1, δ = 1)
    θ_target ← θ every ``target_every`` steps

Read top to bottom like cleanrl's ``dqn.py``: act ε-greedily, store in the replay buffer, learn
from uniform minibatches, sync the target net, evaluate greedily every ``eval_every`` steps and stop
once the evaluation mean reaches ``target_return`` ("solved"). The returned policy is the
best-evaluated one; callers measure it again on fresh episodes. Shapes: B batch, O observation size, A actions.
Departures: 1. a small MLP (64-64) and Adam instead of the Atari CNN and RMSprop; 2. one gradient
step per ``train_every`` environment steps from ``learning_starts`` on; 3. truncation (CartPole's 500-step limit)
does not stop bootstrapping, only termination does.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.rl.buffers import ReplayBuffer
from deltalab.rl.schedules import linear_schedule


@dataclass
class DQNConfig:
    """DQN hyperparameters (CartPole-v1 defaults)."""

    total_steps: int = 30_000
    """environment steps at most"""
    lr: float = 2e-3
    """Adam learning rate"""
    gamma: float = 0.99
    """discount γ"""
    buffer_size: int = 20_000
    """replay capacity"""
    batch_size: int = 64
    """minibatch size"""
    learning_starts: int = 1000
    """steps of random play before learning"""
    train_every: int = 4
    """environment steps per gradient step"""
    target_every: int = 250
    """steps between target-network syncs"""
    eps_start: float = 1.0
    """initial ε"""
    eps_end: float = 0.05
    """final ε"""
    eps_duration: int = 8_000
    """steps over which ε decays linearly"""
    hidden: int = 64
    """hidden width of the 2-layer MLP"""
    eval_every: int = 2000
    """steps between greedy evaluations"""
    eval_episodes: int = 10
    """episodes per evaluation during training"""
    target_return: float = 475.0
    """stop once the evaluation mean reaches this"""

    def __post_init__(self) -> None:
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size <= 0 or self.batch_size > self.buffer_size:
            raise ValueError(
                f"batch_size must be in [1, buffer_size={self.buffer_size}], got {self.batch_size}"
            )


class QNetwork(nn.Module):
    """(B, O) → (B, A) action values."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_actions),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.no_grad()
def evaluate(env: gym.Env, q: nn.Module, episodes: int, seed: int) -> np.ndarray:
    """Greedy returns of ``episodes`` episodes (env seeded once with ``seed``): (episodes,)."""
    returns = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed if i == 0 else None)
        done = False
        while not done:
            a = int(q(torch.as_tensor(obs, dtype=torch.float32)).argmax())
            obs, r, terminated, truncated, _ = env.step(a)
            returns[i] += r
            done = terminated or truncated
    return returns


def train_dqn(env_id: str, cfg: DQNConfig, seed: int = 0) -> tuple[QNetwork, dict[str, list[float]]]:
    """Train until solved or ``total_steps``; returns the best-evaluated net and a log (``steps``/``eval_mean``/``episode_return``...)."""
    torch.manual_seed(seed)
    env, eval_env = gym.make(env_id), gym.make(env_id)
    obs_dim, n_actions = env.observation_space.shape[0], env.action_space.n
    q = QNetwork(obs_dim, n_actions, cfg.hidden)
    q_target = QNetwork(obs_dim, n_actions, cfg.hidden)
    q_target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=cfg.lr)
    buffer = ReplayBuffer(cfg.buffer_size, obs_dim, seed=seed)
    rng = np.random.default_rng(seed)
    log: dict[str, list[float]] = {
        "eval_step": [],
        "eval_mean": [],
        "episode_step": [],
        "episode_return": [],
        "solved_at": [],
    }

    obs, _ = env.reset(seed=seed)
    ep_return, n_eval = 0.0, 0
    best_mean, best_state = -np.inf, None
    for step in range(1, cfg.total_steps + 1):
        eps = linear_schedule(cfg.eps_start, cfg.eps_end, cfg.eps_duration, step)
        if rng.random() < eps:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs, dtype=torch.float32)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)
        obs, ep_return = next_obs, ep_return + reward
        if terminated or truncated:
            log["episode_step"].append(step)
            log["episode_return"].append(ep_return)
            obs, _ = env.reset()
            ep_return = 0.0

        if step >= cfg.learning_starts and step % cfg.train_every == 0:
            s, a, r, s2, d = (torch.as_tensor(x) for x in buffer.sample(cfg.batch_size))
            with torch.no_grad():
                td_target = r + cfg.gamma * (1.0 - d) * q_target(s2).max(dim=1).values  # (B,)
            q_sa = q(s).gather(1, a[:, None]).squeeze(1)  # (B,)
            loss = F.smooth_l1_loss(q_sa, td_target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if step % cfg.target_every == 0:
            q_target.load_state_dict(q.state_dict())

        if step >= cfg.learning_starts and step % cfg.eval_every == 0:
            mean = float(evaluate(eval_env, q, cfg.eval_episodes, seed=seed + 10_000 + n_eval).mean())
            n_eval += 1
            log["eval_step"].append(step)
            log["eval_mean"].append(mean)
            if mean >= best_mean:
                best_mean, best_state = mean, {k: v.clone() for k, v in q.state_dict().items()}
            if mean >= cfg.target_return:
                log["solved_at"].append(step)
                break
    if best_state is not None:
        q.load_state_dict(best_state)  # the best-evaluated policy (DQN's return can collapse late)
    return q, log
