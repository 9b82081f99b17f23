"""Deep Q-network (Mnih et al. 2015, "Human-level control through deep RL"; arXiv:1312.5602 for the first
version), with the Double-DQN target (van Hasselt et al. 2016, arXiv:1509.06461) and the standard
stabilizers as options: n-step returns (Sutton 1988; used by Rainbow, arXiv:1710.02298), Polyak
target averaging (as in DDPG/SB3's ``tau``) and a linearly decaying learning rate (SB3's linear schedule).

    a* = argmax_a' Q(s_{t+n}, a')  (Double DQN)   or   argmax_a' Q_target(s_{t+n}, a')  (DQN)
    y = Σ_{i<n} γ^i r_{t+i} + γ^n (1 - terminated) Q_target(s_{t+n}, a*)
    loss = Huber(Q(s_t, a_t) - y)          (smooth L1, δ = 1), gradient norm clipped to ``max_grad_norm``
    θ_target ← (1 - τ) θ_target + τ θ every ``target_every`` steps (τ = 1: a hard copy)
    Adam's rate: ``lr`` → ``lr_end`` linearly over ``total_steps`` (``lr_end`` None: constant)

Read top to bottom like cleanrl's ``dqn.py``: act ε-greedily, store in the replay buffer, learn
from uniform minibatches, update the target net, evaluate greedily every ``eval_every`` steps and stop
once the evaluation mean reaches ``target_return`` ("solved"). The evaluations never steer training
(they only pick which net is returned): the returned policy is the best-evaluated one; callers measure
it again on fresh episodes. Shapes: B batch, O observation size, A actions.
Departures: 1. an MLP and Adam instead of the Atari CNN and RMSprop; 2. ``gradient_steps`` gradient
steps every ``train_every`` environment steps from ``learning_starts`` on (SB3's train_freq /
gradient_steps); 3. truncation (CartPole's 500-step limit) does not stop bootstrapping, only termination
does (the < n-step tails of a truncated episode are dropped rather than bootstrapped with the wrong γ^k);
4. the greedy evaluations run their episodes side by side (one batched forward per step) so that a wide
evaluation costs little.

Why the stabilizers (``deltalab bench dqn-vs-sb3``: 50k steps, 10-episode greedy evaluation every 1k
steps, seeds 0/1/2; steps to a first evaluation ≥ 475, last evaluation): the zoo's recipe alone
(1-step, hard target, constant lr, 50k buffer, 32 gradient steps per 128) gave 23k / 26k / 2k, end
500 / 282.7 / 134.3 (it oscillates and collapses after solving). + the zoo's 100k buffer, its
gradient-step ratio (64 per 128) and lr 2.3e-3 → 2.3e-5: 19k / 16k / 20k, end 500 / 500 / 97.8 (seed 2
collapsed at 31k for good). + Polyak τ 0.05: 25k / 23k / 28k, every end 500 (stable but slower).
+ 3-step returns (the defaults): 10k / 9k / 15k, every end 500 (SB3 with the zoo's recipe: 5k / 36k / 28k);
seeds 3/4/5: 14k / 4k / 12k, every end 500. Single evaluations still dip after solving (seed 0: 154 at
30k; seed 4: 166-180 at 37k-43k) but every seed 0-5 ends at 500; a first 475 can be one lucky evaluation
(seed 4's 4k).
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
    """DQN hyperparameters; the CartPole-v1 defaults follow rl-baselines3-zoo's tuned DQN (hyperparams/dqn.yml:
    lr 2.3e-3, 256-256 MLP, batch 64, 100k buffer, ε 1 → 0.04 over the first 8k steps, 1k random steps,
    gradient norm clipped at 10 as in SB3, half a gradient step per environment step, here 64 every 128
    steps instead of 128 every 256), plus Double DQN, 3-step returns, Polyak target updates (τ 0.05 every
    10 steps: about half-way per training phase) and Adam's rate decaying linearly to 1% over the budget."""

    total_steps: int = 30_000
    """environment steps at most"""
    lr: float = 2.3e-3
    """Adam learning rate"""
    gamma: float = 0.99
    """discount γ"""
    buffer_size: int = 100_000
    """replay capacity"""
    batch_size: int = 64
    """minibatch size"""
    learning_starts: int = 1000
    """steps of random play before learning"""
    train_every: int = 128
    """environment steps between training phases"""
    gradient_steps: int = 64
    """gradient steps per training phase"""
    target_every: int = 10
    """steps between target-network updates (with τ = 1 and 10 < train_every the target is the net as each
    phase starts; with τ = 0.05, the ~13 updates between two phases move it about half-way, 1 - 0.95^12.8)"""
    tau: float = 0.05
    """target update θ_target ← (1 - τ) θ_target + τ θ at each sync (1: a hard copy; < 1: Polyak averaging)"""
    n_step: int = 3
    """n-step returns: y = r_t + γ r_{t+1} + … + γ^{n-1} r_{t+n-1} + γ^n Q_target(s_{t+n}, a*) (1: one-step DQN)"""
    lr_end: float | None = 2.3e-5
    """if set, the learning rate decays linearly from ``lr`` to ``lr_end`` over ``total_steps`` (None: constant)"""
    eps_start: float = 1.0
    """initial ε"""
    eps_end: float = 0.04
    """final ε"""
    eps_duration: int = 8_000
    """steps over which ε decays linearly"""
    hidden_dim: int = 256
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
        if self.n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {self.n_step}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.lr_end is not None and not 0 <= self.lr_end <= self.lr:
            raise ValueError(f"lr_end must be in [0, lr={self.lr}] or None, got {self.lr_end}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")


def nstep_transition(
    window: list[tuple[np.ndarray, int, float]], next_obs: np.ndarray, gamma: float
) -> tuple[np.ndarray, int, float, np.ndarray]:
    """Fold ``window`` = [(s_t, a_t, r_t), …, (s_{t+k-1}, …, r_{t+k-1})] into (s_t, a_t, Σ_i γ^i r_{t+i}, s_{t+k})."""
    ret = sum(gamma**i * r for i, (_, _, r) in enumerate(window))
    return window[0][0], window[0][1], float(ret), next_obs


def learning_rate_at(cfg: DQNConfig, step: int) -> float:
    """Adam's learning rate at environment step ``step``: ``lr``, or ``lr`` → ``lr_end`` linearly over ``total_steps``."""
    if cfg.lr_end is None:
        return cfg.lr
    return linear_schedule(cfg.lr, cfg.lr_end, cfg.total_steps, step)


class QNetwork(nn.Module):
    """(B, O) → (B, A) action values."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, n_actions),
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
    q = QNetwork(obs_dim, n_actions, cfg.hidden_dim)
    q_target = QNetwork(obs_dim, n_actions, cfg.hidden_dim)
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
    window: list[tuple[np.ndarray, int, float]] = []  # the last < n (s, a, r) of this episode
    ep_return, n_eval = 0.0, 0
    best_mean, best_state = -np.inf, None
    # a hand-written loop: acting, replay and target updates interleaved with the TD steps are DQN
    for step in range(1, cfg.total_steps + 1):
        eps = linear_schedule(cfg.eps_start, cfg.eps_end, cfg.eps_duration, step)
        if rng.random() < eps:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs, dtype=torch.float32)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        window.append((obs, action, float(reward)))
        if len(window) == cfg.n_step:  # a full n-step transition, bootstrapped with γ^n unless terminated
            buffer.add(*nstep_transition(window, next_obs, cfg.gamma), terminated)
            window.pop(0)
        if terminated:  # the shorter tails end in the terminal state: no bootstrap, so no γ^k needed
            while window:
                buffer.add(*nstep_transition(window, next_obs, cfg.gamma), True)
                window.pop(0)
        obs, ep_return = next_obs, ep_return + reward
        if terminated or truncated:
            # after a truncation the < n-step tails would bootstrap with γ^k ≠ γ^n: drop them (n - 1 of 500)
            window.clear()
            log["episode_step"].append(step)
            log["episode_return"].append(ep_return)
            obs, _ = env.reset()
            ep_return = 0.0

        train_now = step >= cfg.learning_starts and step % cfg.train_every == 0
        if train_now and cfg.lr_end is not None:
            for group in opt.param_groups:
                group["lr"] = learning_rate_at(cfg, step)
        for _ in range(cfg.gradient_steps if train_now else 0):
            s, a, r, s2, d = (torch.as_tensor(x) for x in buffer.sample(cfg.batch_size))
            with torch.no_grad():
                q_next = q_target(s2)  # (B, A)
                a_next = (q(s2) if cfg.double else q_next).argmax(dim=1, keepdim=True)  # (B, 1)
                td_target = r + cfg.gamma**cfg.n_step * (1.0 - d) * q_next.gather(1, a_next).squeeze(
                    1
                )  # (B,)
            q_sa = q(s).gather(1, a[:, None]).squeeze(1)  # (B,)
            loss = F.smooth_l1_loss(q_sa, td_target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(q.parameters(), cfg.max_grad_norm)
            opt.step()
        if step % cfg.target_every == 0:
            if cfg.tau == 1.0:
                q_target.load_state_dict(q.state_dict())
            else:
                with torch.no_grad():
                    torch._foreach_lerp_(list(q_target.parameters()), list(q.parameters()), cfg.tau)

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
