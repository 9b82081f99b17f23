"""TD-Gammon-style self-play value learning (Tesauro 1995, "Temporal difference learning and TD-Gammon")
on the dice race of :mod:`deltalab.rl.envs.dice_race`.

One network V(s) ≈ P(player 0 wins | s), seen from a fixed side as TD-Gammon's P(white wins). Both
sides play greedily by a one-ply expectation over the die:

    Q(s, a) = Σ_{s'} P(s' | s, a) V(s')        (V(s') = 1 / 0 when s' is won by player 0 / 1)
    player 0 plays argmax_a Q, player 1 argmin_a Q

and after every move the weights follow TD(λ) with γ = 1 along the game:

    δ_t = V(s_{t+1}) - V(s_t)   (the outcome at the end)
    e_t = λ e_{t-1} + ∇_w V(s_t)
    w  ← w + α δ_t e_t

The net is one sigmoid hidden layer like Tesauro's, written in numpy with its backward pass by
hand: it has 4 inputs and 16 hidden units, so torch's per-call overhead would dominate.
Departures: 1. Pig instead of backgammon (a race game whose TD fixed point is cheap to reach);
2. no exploration noise beyond the dice, as in TD-Gammon; 3. the net sees the position from the
mover's side (scores over the goal) and is flipped for player 1; TD-Gammon used a unary encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deltalab.rl.envs.dice_race import DiceRace, DiceState


@dataclass
class TDGammonConfig:
    """Self-play TD(λ) on the dice race."""

    games: int = 2000
    """self-play games"""
    hidden: int = 16
    """hidden sigmoid units"""
    alpha: float = 0.1
    """step size α"""
    lam: float = 0.7
    """trace decay λ"""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {self.lam}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def encode_mover(game: DiceRace, state: DiceState) -> np.ndarray:
    """The mover's view: own score, opponent's score, turn total, own score + turn total, over goal: (4,)."""
    s0, s1, turn, p = state
    mine, theirs = (s0, s1) if p == 0 else (s1, s0)
    return np.array([mine, theirs, turn, mine + turn], dtype=np.float64) / game.goal


class ValueNet:
    """x (B, I) → sigmoid(W1 x + b1) (B, H) → sigmoid(w2 · h + b2) (B,): P(the mover wins)."""

    def __init__(self, n_in: int, hidden: int, rng: np.random.Generator) -> None:
        self.params = [
            rng.normal(0, 0.5, (hidden, n_in)),
            np.zeros(hidden),
            rng.normal(0, 0.5, hidden),
            np.zeros(1),
        ]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.params
        return _sigmoid(_sigmoid(x @ w1.T + b1) @ w2 + b2)

    def win_prob(self, game: DiceRace, states: list[DiceState]) -> np.ndarray:
        """P(player 0 wins) of each state (B,): the mover's value, flipped where player 1 moves."""
        v = self(np.stack([encode_mover(game, s) for s in states]))
        return np.where(np.array([s[3] for s in states]) == 0, v, 1.0 - v)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """V(x) for one input (I,) and ∂V/∂w for every parameter."""
        w1, b1, w2, b2 = self.params
        h = _sigmoid(w1 @ x + b1)  # (H,)
        v = float(_sigmoid(h @ w2 + b2[0]))
        dz2 = v * (1 - v)
        dh = dz2 * w2 * h * (1 - h)  # (H,)
        return v, [np.outer(dh, x), dh, dz2 * h, np.array([dz2])]


def action_values(game: DiceRace, net: ValueNet, state: DiceState) -> dict[int, float]:
    """One-ply expectation Q(s, a) of P(player 0 wins) for every legal action."""
    q = {}
    for a in game.legal_actions(state):
        outs = game.outcomes(state, a)
        running = [s for _, s, w in outs if w < 0]
        v = net.win_prob(game, running) if running else np.zeros(0)
        total, j = 0.0, 0
        for p, _, w in outs:
            if w < 0:
                total += p * v[j]
                j += 1
            else:
                total += p * (1.0 if w == 0 else 0.0)
        q[a] = total
    return q


def greedy_player(game: DiceRace, net: ValueNet) -> Callable[[DiceState, np.random.Generator], int]:
    def act(state: DiceState, rng: np.random.Generator) -> int:
        q = action_values(game, net, state)
        pick = max if state[3] == 0 else min
        return pick(q, key=q.get)

    return act


def random_player(game: DiceRace) -> Callable[[DiceState, np.random.Generator], int]:
    def act(state: DiceState, rng: np.random.Generator) -> int:
        legal = game.legal_actions(state)
        return legal[int(rng.integers(len(legal)))]

    return act


def train_td_gammon(
    game: DiceRace,
    cfg: TDGammonConfig,
    seed: int = 0,
    on_game: Callable[[int, ValueNet], None] | None = None,
) -> ValueNet:
    """Self-play with TD(λ) updates after every move; ``on_game(games_done, net)`` is called with 0
    before the first game and after every game (for learning curves; it must not change the net)."""
    rng = np.random.default_rng(seed)
    net = ValueNet(4, cfg.hidden, rng)
    act = greedy_player(game, net)

    def v0_and_grad(state: DiceState) -> tuple[float, list[np.ndarray]]:
        """P(player 0 wins) and its gradient: the net's mover value, flipped for player 1."""
        v, g = net.value_and_grad(encode_mover(game, state))
        return (v, g) if state[3] == 0 else (1.0 - v, [-x for x in g])

    if on_game is not None:
        on_game(0, net)
    for n_game in range(cfg.games):
        state, winner = game.initial_state(), -1
        v, grad = v0_and_grad(state)
        traces = [np.zeros_like(p) for p in net.params]
        while winner < 0:
            state, winner = game.step(state, act(state, rng), rng)
            if winner >= 0:
                v_next, grad_next = (1.0 if winner == 0 else 0.0), None
            else:
                v_next, grad_next = v0_and_grad(state)
            delta = v_next - v
            for p, e, g in zip(net.params, traces, grad):
                e *= cfg.lam
                e += g
                p += cfg.alpha * delta * e
            if grad_next is not None:
                v, grad = v0_and_grad(state)  # re-evaluate with the updated weights
        if on_game is not None:
            on_game(n_game + 1, net)
    return net


def play_match(
    game: DiceRace, players: tuple[Callable, Callable], games: int, rng: np.random.Generator
) -> np.ndarray:
    """Winner (0/1) of each of ``games`` games between ``players[0]`` (moves first) and ``players[1]``: (games,)."""
    winners = np.zeros(games, dtype=np.int64)
    for i in range(games):
        state, winner = game.initial_state(), -1
        while winner < 0:
            state, winner = game.step(state, players[state[3]](state, rng), rng)
        winners[i] = winner
    return winners


def value_table(game: DiceRace, net: ValueNet) -> np.ndarray:
    """The net's P(the mover wins) at every mover-view position [mine, theirs, turn]: (goal, goal, goal),
    the table that :func:`deltalab.rl.envs.dice_race.greedy_hold_policy` turns into the net's greedy policy."""
    g = game.goal
    mine, theirs, turn = np.meshgrid(*(np.arange(g),) * 3, indexing="ij")
    x = np.stack([mine, theirs, turn, mine + turn], axis=-1).reshape(-1, 4) / g  # as encode_mover
    return net(x).reshape(g, g, g)
