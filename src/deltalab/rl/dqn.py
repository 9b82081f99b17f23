"""Deep Q-network (Mnih et al. 2015, "Human-level control through deep RL"; arXiv:1312.5602 for the first
version), with the Double-DQN target (van Hasselt et al. 2016, arXiv:1509.06461) as an option.

    a* = argmax_a' Q(s', a')  (Double DQN)   or   argmax_a' Q_target(s', a')  (DQN)
    y = r + γ (1 - terminated) Q_target(s', a*)
    loss = Huber(Q(s, a) - y)          (smooth L1, δ = 1), gradient norm clipped to ``max_grad_norm``
    θ_target ← θ every ``target_every`` steps

Read top to bottom like cleanrl's ``dqn.py``: act ε-greedily, store in the replay buffer, learn
from uniform minibatches, sync the target net, evaluate greedily every ``eval_every`` steps and stop
once the evaluation mean reaches ``target_return`` ("solved"). The returned policy is the
best-evaluated one; callers measure it again on fresh episodes. Shapes: B batch, O observation size, A actions.
Departures: 1. an MLP and Adam instead of the Atari CNN and RMSprop; 2. ``gradient_steps`` gradient
steps every ``train_every`` environment steps from ``learning_starts`` on (SB3's train_freq / gradient_steps); 3. truncation (CartPole's 500-step limit)
does not stop bootstrapping, only termination does; 4. the greedy evaluations run their episodes side by
side (one batched forward per step) so that a wide evaluation costs little.
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
    """DQN hyperparameters; the CartPole-v1 defaults follow rl-baselines3-zoo's tuned DQN (lr 2.3e-3,
    256-256 MLP, batch 64, ε 1 → 0.04 over the first 8k steps, 1k random steps, the target synced before
    each training phase, gradient norm clipped at 10 as in SB3), with Double DQN and half of the zoo's
    gradient steps per environment step (32 every 128 steps instead of 128 every 256) to save time."""

    total_steps: int = 30_000
    """environment steps at most"""
    lr: float = 2.3e-3
    """Adam learning rate"""
    gamma: float = 0.99
    """discount γ"""
    buffer_size: int = 50_000
    """replay capacity"""
    batch_size: int = 64
    """minibatch size"""
    learning_starts: int = 1000
    """steps of random play before learning"""
    train_every: int = 128
    """environment steps between training phases"""
    gradient_steps: int = 32
    """gradient steps per training phase"""
    target_every: int = 10
    """steps between target-network syncs (10 < train_every: the target is the net as each phase starts)"""
    eps_start: float = 1.0
    """initial ε"""
    eps_end: float = 0.04
    """final ε"""
    eps_duration: int = 8_000
    """steps over which ε decays linearly"""
    hidden: int = 256
    """hidden width of the 2-layer MLP"""
    double: bool = True
    """Double DQN: the online net picks the next action, the target net values it"""
    max_grad_norm: float | None = 10.0
    """clip the gradient's global norm to this (None: no clipping)"""
    eval_every: int = 1000
    """steps between greedy evaluations"""
    eval_episodes: int = 20
    """episodes per evaluation during training (run side by side: cheap)"""
    target_return: float = 500.0
    """stop once the evaluation mean reaches this (500: every evaluation episode reached CartPole's limit)"""

    def __post_init__(self) -> None:
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size <= 0 or self.batch_size > self.buffer_size:
            raise ValueError(
                f"batch_size must be in [1, buffer_size={self.buffer_size}], got {self.batch_size}"
            )
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")


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
def evaluate(env_id: str, q: nn.Module, episodes: int, seed: int) -> np.ndarray:
    """Greedy returns of ``episodes`` episodes of ``env_id``, episode i reset with ``seed + i``: (episodes,).

    The episodes run side by side, one batched forward per step (a 20-episode CartPole evaluation
    costs about as much as two episodes played one by one)."""
    envs = [gym.make(env_id) for _ in range(episodes)]
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])  # (episodes, O)
    returns = np.zeros(episodes)
    alive = np.ones(episodes, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        actions = q(torch.as_tensor(obs[idx], dtype=torch.float32)).argmax(1).tolist()
        for i, a in zip(idx, actions):
            o, r, terminated, truncated, _ = envs[i].step(a)
            obs[i], returns[i] = o, returns[i] + r
            alive[i] = not (terminated or truncated)
    return returns


def train_dqn(env_id: str, cfg: DQNConfig, seed: int = 0) -> tuple[QNetwork, dict[str, list[float]]]:
    """Train until solved or ``total_steps``; returns the best-evaluated net and a log (``steps``/``eval_mean``/``episode_return``...)."""
    torch.manual_seed(seed)
    env = gym.make(env_id)
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

        for _ in range(
            cfg.gradient_steps if step >= cfg.learning_starts and step % cfg.train_every == 0 else 0
        ):
            s, a, r, s2, d = (torch.as_tensor(x) for x in buffer.sample(cfg.batch_size))
            with torch.no_grad():
                q_next = q_target(s2)  # (B, A)
                a_next = (q(s2) if cfg.double else q_next).argmax(dim=1, keepdim=True)  # (B, 1)
                td_target = r + cfg.gamma * (1.0 - d) * q_next.gather(1, a_next).squeeze(1)  # (B,)
            q_sa = q(s).gather(1, a[:, None]).squeeze(1)  # (B,)
            loss = F.smooth_l1_loss(q_sa, td_target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(q.parameters(), cfg.max_grad_norm)
            opt.step()
        if step % cfg.target_every == 0:
            q_target.load_state_dict(q.state_dict())

        if step >= cfg.learning_starts and step % cfg.eval_every == 0:
            mean = float(evaluate(env_id, q, cfg.eval_episodes, seed=seed + 10_000 + 1000 * n_eval).mean())
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
