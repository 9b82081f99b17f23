"""REINFORCE (Williams 1992, "Simple statistical gradient-following algorithms for connectionist RL"),
with and without a learned state-value baseline (Sutton & Barto 2018, §13.4).

    ∇_θ J = E[ Σ_t ∇_θ log π_θ(A_t | S_t) (G_t - b(S_t)) ],   G_t = Σ_{k≥t} γ^{k-t} R_{k+1}

The course notes' recipe — "sample the action, treat it as the teacher, weight by the return" —
is exactly this score-function gradient: the cross-entropy loss with the sampled action as the
label is -log π(A_t | S_t), and scaling it by the return (minus a baseline) gives the surrogate
whose gradient is the estimator above. The baseline b(s) = V_φ(s) is fit by regression on G_t.
Shapes: N episodes per batch, T steps, O observation size, A actions.
Departures: 1. a batch of ``episodes_per_batch`` episodes per update, stepped in lockstep so that
the policy runs batched; 2. advantages are normalized per batch (a common variance reduction);
3. Adam instead of plain gradient ascent.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ReinforceConfig:
    """REINFORCE hyperparameters (CartPole-v1 defaults)."""

    updates: int = 150
    """policy updates at most"""
    episodes_per_batch: int = 8
    """episodes per update"""
    lr: float = 1e-2
    """Adam learning rate of the policy"""
    lr_value: float = 1e-2
    """Adam learning rate of the baseline"""
    gamma: float = 0.99
    """discount γ"""
    hidden_dim: int = 32
    """hidden width"""
    baseline: bool = True
    """subtract a learned V(s)"""
    target_return: float = 475.0
    """stop once the mean return of the last ``target_batches`` batches reaches this"""
    target_batches: int = 1
    """batches the stopping test averages (one lucky batch of a still-unreliable policy can reach
    the target: CartPole's own "solved" test averages 100 episodes)"""
    anneal_updates: int = 0
    """once the stopping test first passes, train this many more updates at ``lr`` ×
    ``anneal_lr_factor`` before stopping (0: stop at once). Adam keeps its steps ~lr in size however
    small the true gradient, so a policy that has just become good keeps being pushed around by
    noise; a smaller rate for a while settles it (its occasional early failures get rarer)"""
    anneal_lr_factor: float = 0.3
    """the rate factor of the annealing updates"""
    bootstrap_truncated: bool = False
    """an episode cut by the time limit (truncated, not terminated) ends its returns with γ·V(s_T)
    from the baseline instead of 0 (Pardo et al. 2018, "Time Limits in Reinforcement Learning"):
    the time limit is not part of the task, and without it the last steps of a perfect episode look
    like failures to both the baseline and the policy. Needs ``baseline``."""

    def __post_init__(self) -> None:
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.episodes_per_batch <= 0:
            raise ValueError(f"episodes_per_batch must be > 0, got {self.episodes_per_batch}")
        if self.target_batches <= 0:
            raise ValueError(f"target_batches must be > 0, got {self.target_batches}")
        if self.anneal_updates < 0 or not 0 < self.anneal_lr_factor <= 1:
            raise ValueError(
                f"anneal_updates must be >= 0 and anneal_lr_factor in (0, 1], got "
                f"{self.anneal_updates}, {self.anneal_lr_factor}"
            )


def mlp(in_features: int, hidden_dim: int, out_features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_features, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, out_features))


@dataclass
class Batch:
    """Flattened steps of N episodes: obs (ΣT, O), actions (ΣT,), returns-to-go (ΣT,), episode index (ΣT,)."""

    obs: torch.Tensor
    actions: torch.Tensor
    returns: torch.Tensor
    episode: torch.Tensor
    episode_returns: np.ndarray


def collect(
    envs: list[gym.Env],
    policy: nn.Module,
    gamma: float,
    rng: np.random.Generator,
    bootstrap: nn.Module | None = None,
) -> Batch:
    """One episode per env, all stepped together with one batched policy call per step.

    ``bootstrap``: a value net V; an episode that was truncated (not terminated) starts its
    returns-to-go from γ·V(s_T) at its last observation instead of 0."""
    n = len(envs)
    obs = np.stack([env.reset(seed=int(rng.integers(2**31)))[0] for env in envs])  # (N, O)
    alive = np.ones(n, dtype=bool)
    trajs: list[list[tuple[np.ndarray, int, float]]] = [[] for _ in range(n)]
    tail = np.zeros(n)  # the value each episode's return starts from after its last step
    while alive.any():
        idx = np.flatnonzero(alive)
        with torch.no_grad():
            logits = policy(torch.as_tensor(obs[idx], dtype=torch.float32))  # (n_alive, A)
        probs = torch.softmax(logits, dim=1).numpy().astype(np.float64)
        u = rng.random(len(idx))[:, None]
        actions = (
            (u > np.cumsum(probs, axis=1)).sum(axis=1).clip(max=probs.shape[1] - 1)
        )  # inverse-CDF sampling
        for j, i in enumerate(idx):
            o2, r, term, trunc, _ = envs[i].step(int(actions[j]))
            trajs[i].append((obs[i].copy(), int(actions[j]), float(r)))
            obs[i] = o2
            if term or trunc:
                alive[i] = False
                if trunc and not term and bootstrap is not None:
                    with torch.no_grad():
                        tail[i] = float(bootstrap(torch.as_tensor(o2, dtype=torch.float32)[None]).item())
    all_obs, all_act, all_ret, all_ep, ep_ret = [], [], [], [], []
    for e, traj in enumerate(trajs):
        g, rets = tail[e], []  # V(s_T) of a truncated episode, else 0
        for _, _, r in reversed(traj):
            g = r + gamma * g
            rets.append(g)
        all_ret.extend(reversed(rets))
        all_obs.extend(o for o, _, _ in traj)
        all_act.extend(a for _, a, _ in traj)
        all_ep.extend([e] * len(traj))
        ep_ret.append(sum(r for _, _, r in traj))
    return Batch(
        torch.as_tensor(np.array(all_obs), dtype=torch.float32),
        torch.as_tensor(all_act),
        torch.as_tensor(all_ret, dtype=torch.float32),
        torch.as_tensor(all_ep),
        np.array(ep_ret),
    )


def surrogate(policy: nn.Module, batch: Batch, advantages: torch.Tensor) -> torch.Tensor:
    """-(1/N) Σ log π(a|s) · advantage: cross-entropy with the sampled action as label, weighted."""
    nll = F.cross_entropy(policy(batch.obs), batch.actions, reduction="none")  # (ΣT,) = -log π(a|s)
    return (nll * advantages).sum() / (int(batch.episode.max()) + 1)


def train_reinforce(
    env_id: str, cfg: ReinforceConfig, seed: int = 0
) -> tuple[nn.Module, nn.Module, dict[str, list[float]]]:
    """Train until the mean return of the last ``target_batches`` batches reaches ``target_return``
    (then ``anneal_updates`` more at the lowered rate) or ``updates`` run out; returns policy,
    value, log (``log["solved_at"]``: the update count at which the test first passed, or [])."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    envs = [gym.make(env_id) for _ in range(cfg.episodes_per_batch)]
    obs_dim, n_actions = envs[0].observation_space.shape[0], envs[0].action_space.n
    policy, value = mlp(obs_dim, cfg.hidden_dim, n_actions), mlp(obs_dim, cfg.hidden_dim, 1)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    opt_v = torch.optim.Adam(value.parameters(), lr=cfg.lr_value)
    log: dict[str, list[float]] = {"update": [], "mean_return": [], "episodes": [], "solved_at": []}
    episodes = 0
    if cfg.bootstrap_truncated and not cfg.baseline:
        raise ValueError("bootstrap_truncated needs baseline=True (it bootstraps from the learned V)")
    # a hand-written loop: collecting a batch of episodes and the score-function step are REINFORCE
    for update in range(cfg.updates):
        batch = collect(envs, policy, cfg.gamma, rng, value if cfg.bootstrap_truncated else None)
        episodes += len(batch.episode_returns)
        adv = batch.returns
        if cfg.baseline:
            with torch.no_grad():
                adv = batch.returns - value(batch.obs).squeeze(1)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        loss = surrogate(policy, batch, adv)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cfg.baseline:
            v_loss = F.mse_loss(value(batch.obs).squeeze(1), batch.returns)
            opt_v.zero_grad(set_to_none=True)
            v_loss.backward()
            opt_v.step()
        log["update"].append(update)
        log["episodes"].append(episodes)
        log["mean_return"].append(float(batch.episode_returns.mean()))
        recent = log["mean_return"][-cfg.target_batches :]
        solved = len(recent) == cfg.target_batches and sum(recent) / len(recent) >= cfg.target_return
        if solved and not log["solved_at"]:
            log["solved_at"].append(update + 1)
            for group in opt.param_groups:
                group["lr"] *= cfg.anneal_lr_factor
        if log["solved_at"] and update + 1 >= log["solved_at"][0] + cfg.anneal_updates:
            break
    return policy, value, log


def per_episode_grads(policy: nn.Module, batch: Batch, baseline: nn.Module | None) -> torch.Tensor:
    """The single-episode gradient estimate Σ_t ∇log π(a_t|s_t)(G_t - b(s_t)) of every episode: (N, P)."""
    with torch.no_grad():
        adv = batch.returns - (baseline(batch.obs).squeeze(1) if baseline is not None else 0.0)
    grads = []
    for e in range(int(batch.episode.max()) + 1):
        m = batch.episode == e
        logp = -F.cross_entropy(policy(batch.obs[m]), batch.actions[m], reduction="none")
        g = torch.autograd.grad((logp * adv[m]).sum(), list(policy.parameters()))
        grads.append(torch.cat([x.flatten() for x in g]))
    return torch.stack(grads)


@torch.no_grad()
def evaluate_policy(
    env_id: str, policy: nn.Module, episodes: int, seed: int, greedy: bool = False
) -> np.ndarray:
    """Returns of ``episodes`` episodes with the stochastic (or greedy) policy: (episodes,)."""
    envs = [gym.make(env_id) for _ in range(episodes)]
    if greedy:
        out = np.zeros(episodes)
        for i, env in enumerate(envs):
            obs, _ = env.reset(seed=seed + i)
            done = False
            while not done:
                obs, r, term, trunc, _ = env.step(
                    int(policy(torch.as_tensor(obs, dtype=torch.float32)).argmax())
                )
                out[i] += r
                done = term or trunc
        return out
    return collect(envs, policy, 1.0, np.random.default_rng(seed)).episode_returns
