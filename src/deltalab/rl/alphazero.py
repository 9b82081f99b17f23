"""AlphaZero (Silver et al. 2017, "Mastering chess and shogi by self-play...", arXiv:1712.01815):
self-play only, one policy+value net, PUCT search.

    self-play:  π_t = N(s_t, ·)^{1/τ} / Σ N^{1/τ}   from PUCT with root Dirichlet noise; a_t ~ π_t
    targets:    z = game outcome for the player to move at s_t
    loss:       (z - v_θ(s))² - π · log p_θ(s)        (+ L2 via AdamW weight decay)

Each iteration plays ``games_per_iter`` games with the current net, adds every position (and its
symmetric copies when the game lists ``symmetries()``) to a buffer of recent positions, and trains
on minibatches from it. Shapes: B batch, O encoded state, A actions.
Departures: 1. an MLP instead of a residual CNN (boards of 9–20 cells); 2. no separate evaluator
gate (AlphaZero dropped it too); 3. net evaluations are cached by position within an iteration —
the net does not change during self-play, so a transposition hit costs nothing; 4. temperature
τ = 1 for the first ``temp_moves`` moves, then greedy (AlphaGo Zero's schedule, shortened).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.rl.buffers import GameBuffer
from deltalab.rl.envs.board import BoardGame, State
from deltalab.rl.mcts import Evaluate, puct_search
from deltalab.rl.minimax import games_over_tiebreaks
from deltalab.train.steps import fit_steps


@dataclass
class AlphaZeroConfig:
    """AlphaZero hyperparameters (tic-tac-toe defaults)."""

    iterations: int = 12
    """self-play / train rounds"""
    games_per_iter: int = 40
    """self-play games per round"""
    n_simulations: int = 32
    """PUCT simulations per move in self-play"""
    c_puct: float = 1.5
    """exploration constant"""
    dirichlet_alpha: float = 0.5
    """root noise concentration"""
    noise_frac: float = 0.25
    """root noise weight ε"""
    temp_moves: int = 3
    """moves sampled with τ = 1 before playing greedily"""
    buffer_size: int = 20_000
    """recent positions kept"""
    train_steps: int = 200
    """gradient steps per round"""
    batch_size: int = 128
    """minibatch size"""
    lr: float = 3e-3
    """AdamW learning rate"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    hidden_dim: int = 128
    """MLP width"""

    def __post_init__(self) -> None:
        if self.n_simulations <= 0:
            raise ValueError(f"n_simulations must be > 0, got {self.n_simulations}")
        if not 0 <= self.noise_frac <= 1:
            raise ValueError(f"noise_frac must be in [0, 1], got {self.noise_frac}")


class PolicyValueNet(nn.Module):
    """(B, O) → policy logits (B, A), value in [-1, 1] (B,)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(obs_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU()
        )
        self.policy_head = nn.Linear(hidden_dim, n_actions)
        self.value_head = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.policy_head(h), torch.tanh(self.value_head(h)).squeeze(-1)


def net_evaluator(game: BoardGame, net: nn.Module) -> Evaluate:
    """``state -> (priors (A,), value)`` from the net, memoized by position."""
    cache: dict[State, tuple[np.ndarray, float]] = {}

    @torch.no_grad()
    def evaluate(state: State) -> tuple[np.ndarray, float]:
        hit = cache.get(state)
        if hit is None:
            logits, v = net(torch.as_tensor(game.encode(state))[None])
            mask = torch.as_tensor(game.action_mask(state), dtype=torch.bool)
            p = torch.softmax(logits[0].masked_fill(~mask, -1e9), dim=0).numpy()
            hit = cache[state] = (p, float(v[0]))
        return hit

    return evaluate


def self_play_game(
    game: BoardGame, evaluate: Evaluate, cfg: AlphaZeroConfig, rng: np.random.Generator
) -> list[tuple[State, np.ndarray, float]]:
    """One game; returns ``(state, π, z)`` for every position, z for the player to move there."""
    state, history = game.initial_state(), []
    while not game.is_terminal(state):
        counts = puct_search(
            game, state, evaluate, cfg.n_simulations, cfg.c_puct, cfg.dirichlet_alpha, cfg.noise_frac, rng
        )
        pi = counts / counts.sum()
        if len(history) < cfg.temp_moves:
            a = int(rng.choice(game.n_actions, p=pi))
        else:
            a = int(np.argmax(counts))
        history.append((state, pi, game.to_play(state)))
        state = game.next_state(state, a)
    winner = game.winner(state)  # +1, -1 or 0 (draw)
    return [(s, pi, float(winner * player)) for s, pi, player in history]


def _augment(game: BoardGame, state: State, pi: np.ndarray) -> list[tuple[State, np.ndarray]]:
    if not hasattr(game, "symmetries"):
        return [(state, pi)]  # no symmetries listed (and actions need not be cells, as in connect-four)
    return [(tuple(state[i] for i in perm), pi[list(perm)]) for perm in game.symmetries()]


def train_alphazero(
    game: BoardGame, cfg: AlphaZeroConfig, seed: int = 0, stop: Callable[[nn.Module], bool] | None = None
) -> tuple[PolicyValueNet, dict[str, list[float]]]:
    """Self-play and train for ``cfg.iterations`` rounds (or until ``stop(net)`` holds after one); returns net, log."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    obs_dim = len(game.encode(game.initial_state()))
    net = PolicyValueNet(obs_dim, game.n_actions, cfg.hidden_dim)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    buffer = GameBuffer(cfg.buffer_size, obs_dim, game.n_actions, seed=seed)
    log: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "positions": []}
    last: dict[str, torch.Tensor] = {}

    def loss_fn() -> torch.Tensor:  # cross-entropy to the search's π plus the value's squared error
        x, pi, z = (torch.as_tensor(a) for a in buffer.sample(cfg.batch_size))
        logits, v = net(x)
        last["policy"] = -(pi * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
        last["value"] = F.mse_loss(v, z)
        return last["policy"] + last["value"]

    # a hand-written outer loop: self-play with the current net, then fit the net to its games
    for _ in range(cfg.iterations):
        net.eval()
        evaluate = net_evaluator(game, net)  # fresh cache: the net changed
        for _ in range(cfg.games_per_iter):
            for state, pi, z in self_play_game(game, evaluate, cfg, rng):
                for s, p in _augment(game, state, pi):
                    buffer.add(game.encode(s), p, z)
        net.train()
        fit_steps(loss_fn, opt, cfg.train_steps)
        log["policy_loss"].append(float(last["policy"].detach()))
        log["value_loss"].append(float(last["value"].detach()))
        log["positions"].append(len(buffer))
        net.eval()
        if stop is not None and stop(net):
            break
    net.eval()
    return net, log


def losses_vs_minimax(game: BoardGame, act, solver, as_player: int) -> tuple[int, int]:
    """Play ``act`` (deterministic) against exact minimax over every optimal tie-break of minimax.

    Returns ``(games, losses)``: the number of distinct games (minimax's branches) and how many ``act`` lost.
    """
    games, _, losses = games_over_tiebreaks(game, act, solver.optimal_actions, as_player)
    return games, losses


def search_player(game: BoardGame, evaluate: Evaluate, n_simulations: int, c_puct: float = 1.5):
    """A deterministic player: the most-visited move of a noise-free PUCT search."""

    def act(state: State) -> int:
        return int(np.argmax(puct_search(game, state, evaluate, n_simulations, c_puct)))

    return act
