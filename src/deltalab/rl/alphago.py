"""An AlphaGo-style pipeline (Silver et al. 2016, "Mastering the game of Go with deep neural networks
and tree search", Nature 529) on small connect-four.

1. SL policy net p_σ(a | s): trained by cross-entropy on expert moves (depth-limited α–β here).
2. Fast rollout policy p_π: a linear softmax on the same inputs, trained on the same moves.
3. Value net v_θ(s): regression on the outcomes z of games played by p_σ (sampled moves), one
   position per game, the one after a uniformly random move at a random time U (the paper's recipe).
4. Search: PUCT with priors P(s, a) = p_σ(a | s) and leaf value

       V(leaf) = (1 - λ) v_θ(leaf) + λ z_rollout        (z from a p_π rollout, λ = 0.5 as in the paper)

Every value (z, v_θ, the rollout's result) is for the player to move at the position, the
convention of :func:`~deltalab.rl.mcts.puct_search`. Every training position is also used
mirrored left-right (connect-four's symmetry).

What was wrong (issue 18; the value signs were right, tests/test_alphago.py pins them): 1. p_σ
read stones only and learned from expert-vs-expert games, which seldom leave a win in one on the
board: it put P ≈ 0 on the winning column (and 40 simulations never visit a move with that prior),
so the search played the block it had learned instead. The inputs now carry per-column "wins now" /
"opponent wins there" flags (:func:`features`) and the expert also labels positions of uniformly
random games. 2. The expert was depth-3 α–β: with the line heuristic an odd depth ends on the
opponent's move, where the opponent's open three scores as a mild minus instead of a loss, and that
expert loses every game as O to the depth-2 opponent of the experiment; the expert is now depth 2.
3. Without the random move at U, p_σ against itself replays a few lines and z mostly said who
moved first, so v_θ hurt the search it should help.

Shapes: B batch, O features (2 · cells + 2 · A, see :func:`features`), A columns.
Departures: 1. no RL policy stage (p_ρ): the value net learns from p_σ's own games; 2. MLPs
instead of convolutional nets; 3. the expert is depth-limited α–β, not human games, and in the
experiment it searches as deep as the opponent, so p_σ is partly a model of that opponent's replies
(as AlphaGo's p_σ modelled human replies); 4. net outputs are cached by position within a search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.rl.envs.board import BoardGame, State
from deltalab.rl.mcts import Evaluate
from deltalab.rl.minimax import alphabeta_policy
from deltalab.train.steps import fit_steps


@dataclass
class AlphaGoConfig:
    """Data sizes and training lengths of the three nets."""

    expert_depth: int = 2
    """α–β depth of the expert that labels moves (even: see the module docstring)"""
    expert_games: int = 150
    """games whose positions the expert labels"""
    random_move_p: float = 0.3
    """probability of a random move in those games (diverse positions)"""
    random_games: int = 200
    """more games of uniformly random moves whose positions the expert labels too (expert games
    seldom leave a win in one on the board, so p_σ never saw enough of them)"""
    value_games: int = 2000
    """p_σ self-play games for the value net (one position each)"""
    epochs: int = 30
    """minibatch Adam epochs per net"""
    hidden_dim: int = 128
    """MLP width"""
    lam: float = 0.5
    """mixing λ of value net and rollout"""
    mirror: bool = True
    """add the left-right reflection of every training position (connect-four is mirror-symmetric)"""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {self.lam}")
        if self.expert_depth < 1:
            raise ValueError(f"expert_depth must be >= 1, got {self.expert_depth}")


def _mlp(obs_dim: int, hidden_dim: int, out: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(obs_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, out),
    )


def _fit(model: nn.Module, x: torch.Tensor, loss_fn, epochs: int, lr: float = 3e-3, batch: int = 256) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    batches = (idx for _ in range(epochs) for idx in torch.randperm(len(x), generator=g).split(batch))
    fit_steps(lambda: loss_fn(model, next(batches)), opt, epochs * math.ceil(len(x) / batch))


def expert_dataset(
    game: BoardGame, cfg: AlphaGoConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of partly random games with the expert's move: x (N, O), masks (N, A), moves (N,)."""
    expert = alphabeta_policy(game, cfg.expert_depth, rng)
    xs, masks, moves = [], [], []
    for g in range(cfg.expert_games + cfg.random_games):
        random_p = cfg.random_move_p if g < cfg.expert_games else 1.0
        s = game.initial_state()
        while not game.is_terminal(s):
            a_exp = expert(s)
            xs.append(features(game, s))
            masks.append(game.action_mask(s))
            moves.append(a_exp)
            legal = game.legal_actions(s)
            a = legal[int(rng.integers(len(legal)))] if rng.random() < random_p else a_exp
            s = game.next_state(s, a)
    return np.array(xs), np.array(masks, dtype=bool), np.array(moves)


def features(game: BoardGame, state: State) -> np.ndarray:
    """Network input (O = 2 · cells + 2 · A): the board from the mover's view (``game.encode``) plus,
    per column, whether playing there wins now and whether the opponent would win there (a block).

    AlphaGo's nets read hand-made tactical planes besides the stones (liberties, capture size,
    self-atari...); these two are connect-four's counterpart. From stones alone an MLP trained on
    expert games never learned to complete its own line: such positions are rare in them.
    """
    lines_at = _lines_at(game)
    me = game.to_play(state)
    win, block = np.zeros(game.n_actions, np.float32), np.zeros(game.n_actions, np.float32)
    for a in game.legal_actions(state):
        cell = next(r * game.n_actions + a for r in range(game.rows) if state[r * game.n_actions + a] == 0)  # type: ignore[attr-defined]
        for line in lines_at[cell]:
            others = [state[i] for i in line if i != cell]
            if all(v == me for v in others):
                win[a] = 1.0
            elif all(v == -me for v in others):
                block[a] = 1.0
    return np.concatenate([game.encode(state), win, block])


_LINES_AT: dict[int, list[list[tuple[int, ...]]]] = {}


def _lines_at(game: BoardGame) -> list[list[tuple[int, ...]]]:
    """For each cell, the winning lines through it (``game.lines``), cached per game object."""
    hit = _LINES_AT.get(id(game))
    if hit is None:
        hit = [[ln for ln in game.lines if c in ln] for c in range(game.n_cells)]  # type: ignore[attr-defined]
        _LINES_AT[id(game)] = hit
    return hit


def mirror_perm(game: BoardGame) -> list[int]:
    """Cell permutation of the left-right reflection of a ``rows × cols`` board (row-major cells)."""
    rows, cols = game.rows, game.cols  # type: ignore[attr-defined]
    return [r * cols + (cols - 1 - c) for r in range(rows) for c in range(cols)]


def _mirror_obs(game: BoardGame, x: np.ndarray) -> np.ndarray:
    """Reflect feature rows (N, O): both planes get the cell permutation, the per-column flags reverse."""
    perm, cells, cols = mirror_perm(game), game.n_cells, game.n_actions
    flags = [2 * cells + k * cols + (cols - 1 - c) for k in range(2) for c in range(cols)]
    return x[:, perm + [p + cells for p in perm] + flags]


def _masked_logits(model: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(x).masked_fill(~mask, -1e9)


@torch.no_grad()
def value_dataset(
    game: BoardGame, policy: nn.Module, cfg: AlphaGoConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of p_σ's own games (moves sampled) and their outcomes: x (N, O), z (N,).

    z is the final result for the player to move at the position (+1 won, -1 lost, 0 draw), the
    same convention as the value that :func:`~deltalab.rl.mcts.puct_search` expects from a leaf.
    One position per game, the one right after a uniformly random move at a random time U, as AlphaGo
    drew them (to decorrelate). The games run in lockstep so that p_σ sees one batch per move.
    """
    n = cfg.value_games
    states = [game.initial_state() for _ in range(n)]
    # AlphaGo's recipe: move U of each game is uniformly random, the position after it is the sample
    # (without the random move, p_σ against itself replays a few lines and z mostly says who moved first)
    u = rng.integers(0, game.n_cells // 2, size=n)
    picked: list[State | None] = [None] * n
    live, t = list(range(n)), 0
    while live:
        x = torch.as_tensor(np.array([features(game, states[i]) for i in live]))
        m = torch.as_tensor(np.array([game.action_mask(states[i]) for i in live]), dtype=torch.bool)
        p = torch.softmax(_masked_logits(policy, x, m), 1).numpy().astype(np.float64)
        for i, pi in zip(live, p):
            if t == u[i]:
                legal = game.legal_actions(states[i])
                states[i] = game.next_state(states[i], legal[int(rng.integers(len(legal)))])
                picked[i] = states[i]
            else:
                states[i] = game.next_state(states[i], int(rng.choice(game.n_actions, p=pi / pi.sum())))
        live = [i for i in live if not game.is_terminal(states[i])]
        t += 1
    xs, zs = [], []
    for end, s in zip(states, picked):
        if s is not None and not game.is_terminal(s):
            xs.append(features(game, s))
            zs.append(float(game.winner(end) * game.to_play(s)))
    return np.array(xs), np.array(zs, dtype=np.float32)


def train_alphago(
    game: BoardGame, cfg: AlphaGoConfig, seed: int = 0
) -> tuple[nn.Module, nn.Module, nn.Module, dict[str, float]]:
    """Returns (SL policy net, fast rollout policy, value net, stats)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_np, m_np, y_np = expert_dataset(game, cfg, rng)
    if cfg.mirror:  # a reflected position's expert move is the reflected column
        x_np = np.concatenate([x_np, _mirror_obs(game, x_np)])
        m_np = np.concatenate([m_np, m_np[:, ::-1]])
        y_np = np.concatenate([y_np, game.n_actions - 1 - y_np])
    x, mask, y = torch.as_tensor(x_np, dtype=torch.float32), torch.as_tensor(m_np), torch.as_tensor(y_np)
    obs_dim = x.shape[1]
    policy, rollout = _mlp(obs_dim, cfg.hidden_dim, game.n_actions), nn.Linear(obs_dim, game.n_actions)
    for model in (policy, rollout):
        _fit(model, x, lambda m, i: F.cross_entropy(_masked_logits(m, x[i], mask[i]), y[i]), cfg.epochs)
    with torch.no_grad():
        acc_policy = float((_masked_logits(policy, x, mask).argmax(1) == y).float().mean())
        acc_rollout = float((_masked_logits(rollout, x, mask).argmax(1) == y).float().mean())
    vx_np, vz_np = value_dataset(game, policy, cfg, rng)
    if cfg.mirror:
        vx_np, vz_np = np.concatenate([vx_np, _mirror_obs(game, vx_np)]), np.concatenate([vz_np, vz_np])
    vx_t, vz_t = torch.as_tensor(vx_np), torch.as_tensor(vz_np)
    value = _mlp(obs_dim, cfg.hidden_dim, 1)
    _fit(value, vx_t, lambda m, i: F.mse_loss(torch.tanh(m(vx_t[i])).squeeze(1), vz_t[i]), cfg.epochs)
    stats = {
        "expert_positions": len(y),
        "policy_train_acc": acc_policy,
        "rollout_train_acc": acc_rollout,
        "value_positions": len(vz_np),
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
            z = w @ features(game, state) + b
            z = np.where(game.action_mask(state) > 0, z, -np.inf)
            p = np.exp(z - z.max())
            state = game.next_state(state, int(rng.choice(len(p), p=p / p.sum())))
        return game.terminal_value(state) * (1 if game.to_play(state) == mover else -1)

    @torch.no_grad()
    def evaluate(state: State) -> tuple[np.ndarray, float]:
        hit = cache.get(state)
        if hit is None:
            x = torch.as_tensor(features(game, state))[None]
            m = torch.as_tensor(game.action_mask(state), dtype=torch.bool)[None]
            priors = torch.softmax(_masked_logits(policy, x, m)[0], 0).numpy()
            hit = cache[state] = (priors, float(torch.tanh(value(x))[0, 0]))
        priors, v = hit
        return priors, (1 - lam) * v + lam * fast_rollout(state)

    return evaluate
