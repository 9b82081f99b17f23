"""An AlphaGo-style pipeline (Silver et al. 2016, "Mastering the game of Go with deep neural networks
and tree search", Nature 529) on small connect-four.

1. SL policy net p_σ(a | s): trained by cross-entropy on expert moves (depth-limited α–β here).
2. Fast rollout policy p_π: a linear softmax on the same inputs, trained on the same moves.
3. Value net v_θ(s): regression on the outcomes z of games played by p_σ (sampled moves).
4. Search: PUCT with priors P(s, a) = p_σ(a | s) and leaf value

       V(leaf) = (1 - λ) v_θ(leaf) + λ z_rollout        (z from a p_π rollout, λ = 0.5 as in the paper)

Shapes: B batch, O encoded board (2 · cells), A columns.
Departures: 1. no RL policy stage (p_ρ): the value net learns from p_σ's own games; 2. MLPs
instead of convolutional nets; 3. the expert is depth-limited α–β, not human games; 4. net
outputs are cached by position within a search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.rl.envs.board import BoardGame, State
from deltalab.rl.mcts import Evaluate
from deltalab.rl.minimax import alphabeta_policy


@dataclass
class AlphaGoConfig:
    """Data sizes and training lengths of the three nets."""

    expert_depth: int = 3
    """α–β depth of the expert that labels moves"""
    expert_games: int = 150
    """games whose positions the expert labels"""
    random_move_p: float = 0.3
    """probability of a random move in those games (diverse positions)"""
    value_games: int = 400
    """p_σ self-play games for the value net"""
    epochs: int = 60
    """full-batch Adam epochs per net"""
    hidden: int = 128
    """MLP width"""
    lam: float = 0.5
    """mixing λ of value net and rollout"""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {self.lam}")
        if self.expert_depth < 1:
            raise ValueError(f"expert_depth must be >= 1, got {self.expert_depth}")


def _mlp(obs_dim: int, hidden: int, out: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out)
    )


def _fit(model: nn.Module, x: torch.Tensor, loss_fn, epochs: int, lr: float = 3e-3, batch: int = 256) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch):
            loss = loss_fn(model, idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def expert_dataset(
    game: BoardGame, cfg: AlphaGoConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of partly random games with the expert's move: x (N, O), masks (N, A), moves (N,)."""
    expert = alphabeta_policy(game, cfg.expert_depth, rng)
    xs, masks, moves = [], [], []
    for _ in range(cfg.expert_games):
        s = game.initial_state()
        while not game.is_terminal(s):
            a_exp = expert(s)
            xs.append(game.encode(s))
            masks.append(game.action_mask(s))
            moves.append(a_exp)
            legal = game.legal_actions(s)
            a = legal[int(rng.integers(len(legal)))] if rng.random() < cfg.random_move_p else a_exp
            s = game.next_state(s, a)
    return np.array(xs), np.array(masks, dtype=bool), np.array(moves)


def _masked_logits(model: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(x).masked_fill(~mask, -1e9)


def train_alphago(
    game: BoardGame, cfg: AlphaGoConfig, seed: int = 0
) -> tuple[nn.Module, nn.Module, nn.Module, dict[str, float]]:
    """Returns (SL policy net, fast rollout policy, value net, stats)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_np, m_np, y_np = expert_dataset(game, cfg, rng)
    x, mask, y = torch.as_tensor(x_np, dtype=torch.float32), torch.as_tensor(m_np), torch.as_tensor(y_np)
    obs_dim = x.shape[1]
    policy, rollout = _mlp(obs_dim, cfg.hidden, game.n_actions), nn.Linear(obs_dim, game.n_actions)
    for model in (policy, rollout):
        _fit(model, x, lambda m, i: F.cross_entropy(_masked_logits(m, x[i], mask[i]), y[i]), cfg.epochs)
    with torch.no_grad():
        acc_policy = float((_masked_logits(policy, x, mask).argmax(1) == y).float().mean())
        acc_rollout = float((_masked_logits(rollout, x, mask).argmax(1) == y).float().mean())
    # value net: outcomes of p_σ's own games, one random position per game (AlphaGo's decorrelation)
    vx, vz = [], []
    for _ in range(cfg.value_games):
        s, traj = game.initial_state(), []
        while not game.is_terminal(s):
            traj.append(s)
            with torch.no_grad():
                logits = _masked_logits(
                    policy,
                    torch.as_tensor(game.encode(s))[None],
                    torch.as_tensor(game.action_mask(s), dtype=torch.bool)[None],
                )
            p = torch.softmax(logits[0], 0).numpy().astype(np.float64)
            s = game.next_state(s, int(rng.choice(game.n_actions, p=p / p.sum())))
        w = game.winner(s)
        for t in rng.choice(len(traj), size=min(2, len(traj)), replace=False):
            vx.append(game.encode(traj[t]))
            vz.append(float(w * game.to_play(traj[t])))
    vx_t, vz_t = torch.as_tensor(np.array(vx)), torch.as_tensor(vz, dtype=torch.float32)
    value = _mlp(obs_dim, cfg.hidden, 1)
    _fit(value, vx_t, lambda m, i: F.mse_loss(torch.tanh(m(vx_t[i])).squeeze(1), vz_t[i]), cfg.epochs)
    stats = {
        "expert_positions": len(y),
        "policy_train_acc": acc_policy,
        "rollout_train_acc": acc_rollout,
        "value_positions": len(vz),
    }
    return policy, rollout, value, stats


def guided_evaluator(
    game: BoardGame,
    policy: nn.Module,
    rollout: nn.Module,
    value: nn.Module,
    lam: float,
    rng: np.random.Generator,
) -> Evaluate:
    """``state -> (p_σ priors, (1-λ) v_θ + λ z_rollout)`` for :func:`~deltalab.rl.mcts.puct_search`."""
    w = rollout.weight.detach().numpy().astype(np.float64)  # (A, O)
    b = rollout.bias.detach().numpy().astype(np.float64)  # (A,)
    cache: dict[State, tuple[np.ndarray, float]] = {}

    def fast_rollout(state: State) -> float:
        mover = game.to_play(state)
        while not game.is_terminal(state):
            z = w @ game.encode(state) + b
            z = np.where(game.action_mask(state) > 0, z, -np.inf)
            p = np.exp(z - z.max())
            state = game.next_state(state, int(rng.choice(len(p), p=p / p.sum())))
        return game.terminal_value(state) * (1 if game.to_play(state) == mover else -1)

    @torch.no_grad()
    def evaluate(state: State) -> tuple[np.ndarray, float]:
        hit = cache.get(state)
        if hit is None:
            x = torch.as_tensor(game.encode(state))[None]
            m = torch.as_tensor(game.action_mask(state), dtype=torch.bool)[None]
            priors = torch.softmax(_masked_logits(policy, x, m)[0], 0).numpy()
            hit = cache[state] = (priors, float(torch.tanh(value(x))[0, 0]))
        priors, v = hit
        return priors, (1 - lam) * v + lam * fast_rollout(state)

    return evaluate
