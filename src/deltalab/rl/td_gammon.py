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
hand: it has 4 inputs and 16-32 hidden units, so torch's per-call overhead would dominate.
Departures: 1. Pig instead of backgammon (a race game whose exact solution is computable);
2. no exploration noise beyond the dice, as in TD-Gammon; 3. the net sees the position from the
mover's side (scores over the goal) and is flipped for player 1; TD-Gammon used a unary encoding.

Two trainers: :func:`train_td_gammon` plays one game at a time from the opening (TD-Gammon's
loop); :func:`train_self_play` (used by the td-lambda experiment) runs a batch of games side by
side with exploring starts (random banked scores), a batch-mean update and a linearly decayed α —
on Pig to 100 the opening-only loop never visits most banked scores and settles into "always roll".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deltalab.rl.envs.dice_race import DiceRace, DiceState


@dataclass
class TDGammonConfig:
    """Self-play TD(λ) on the dice race."""

    games: int = 2000
    """self-play games"""
    hidden_dim: int = 16
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

    def __init__(self, n_in: int, hidden_dim: int, rng: np.random.Generator) -> None:
        self.params = [
            rng.normal(0, 0.5, (hidden_dim, n_in)),
            np.zeros(hidden_dim),
            rng.normal(0, 0.5, hidden_dim),
            np.zeros(1),
        ]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.params
        z = x @ w1.T
        z += b1
        np.negative(z, out=z)  # the hidden sigmoid in place: value tables evaluate 10^6 positions
        np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        return _sigmoid(z @ w2 + b2)

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

    def values_and_grads(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """V(x) for a batch (B, I) and the per-example gradients, each (B, *param.shape)."""
        w1, b1, w2, b2 = self.params
        h = _sigmoid(x @ w1.T + b1)  # (B, H)
        v = _sigmoid(h @ w2 + b2[0])  # (B,)
        dz2 = v * (1 - v)
        dh = dz2[:, None] * w2 * h * (1 - h)  # (B, H)
        return v, [dh[:, :, None] * x[:, None, :], dh, dz2[:, None] * h, dz2[:, None]]


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
    net = ValueNet(4, cfg.hidden_dim, rng)
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
    """The net's P(the mover wins) at every running mover-view position [mine, theirs, turn] (0 where
    mine + turn >= goal): (goal, goal, goal), the table that
    :func:`deltalab.rl.envs.dice_race.greedy_hold_policy` turns into the net's greedy policy.

    The hidden layer runs in float32 (10^6 positions x hidden units of exp; the values agree with
    the float64 net's to ~1e-7), the output sigmoid in float64."""
    running, x = _table_inputs(game.goal)
    w1, b1, w2, b2 = (p.astype(np.float32) for p in net.params)
    z = x @ w1.T
    z += b1
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    table = np.zeros(running.shape)
    table[running] = _sigmoid((z @ w2 + b2).astype(np.float64))
    return table


@functools.cache
def _table_inputs(goal: int) -> tuple[np.ndarray, np.ndarray]:
    """The running positions of a ``goal`` table (mine + turn < goal: only these are ever looked up,
    half the table) and their :func:`encode_mover` features in float32: (goal, goal, goal), (P, 4)."""
    mine, theirs, turn = np.meshgrid(*(np.arange(goal),) * 3, indexing="ij")
    running = mine + turn < goal
    x = np.stack([mine[running], theirs[running], turn[running]], axis=-1)
    x = np.column_stack([x, x[:, 0] + x[:, 2]]).astype(np.float32) / np.float32(goal)
    running.setflags(write=False)
    x.setflags(write=False)
    return running, x


# --- Batched self-play with exploring starts ---------------------------------------------------
# Self-play from the opening alone settles into "always roll" on Pig to 100: the net's values at
# banked scores it never reaches stay at their random initial values, so holding (which leads to
# such scores) never looks better. Exploring starts (each training game begins at uniformly random
# banked scores and mover) visit the whole table; many games run side by side so each numpy call
# does B moves, and each game keeps its own eligibility traces.


@dataclass
class SelfPlayConfig:
    """Batched self-play TD(λ) with exploring starts."""

    steps: int = 10_000
    """moves made in each of the ``batch`` parallel games (finished games restart at once)"""
    batch: int = 256
    """games played side by side"""
    hidden_dim: int = 32
    """hidden sigmoid units"""
    alpha: float = 10.0
    """step size α on the batch-mean TD update, decayed linearly to 0 over ``steps``"""
    lam: float = 0.0
    """trace decay λ (best of 0 / 0.3 / 0.7 / 0.9 × α 5 / 10 / 20 on Pig to 100, seeds 0-2)"""
    exploring_starts: bool = True
    """start training games at uniformly random banked scores and mover (else at 0-0)"""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {self.lam}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")


def _mover_features(game: DiceRace, mine: np.ndarray, theirs: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """:func:`encode_mover` for arrays of positions: (B, 4)."""
    return np.stack([mine, theirs, turn, mine + turn], axis=-1) / game.goal


def train_self_play(
    game: DiceRace,
    cfg: SelfPlayConfig,
    seed: int = 0,
    on_step: Callable[[int, int, ValueNet], None] | None = None,
) -> ValueNet:
    """TD(λ) self-play of ``cfg.batch`` games at once, greedy one-ply play on both sides (as
    :func:`greedy_player`); ``on_step(steps_done, games_finished, net)`` is called with 0 before the
    first move and after every step (for learning curves; it must not change the net).

    The net predicts P(the mover wins); the TD error is taken in player 0's fixed view (the value and
    gradient are flipped where player 1 moves), as in :func:`train_td_gammon`."""
    rng = np.random.default_rng(seed)
    g, die, b = game.goal, game.die, cfg.batch
    q, faces = 1.0 / die, np.arange(2, die + 1)
    net = ValueNet(4, cfg.hidden_dim, rng)

    def starts(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if cfg.exploring_starts:
            return rng.integers(0, g, n), rng.integers(0, g, n), rng.integers(0, 2, n)
        return np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)

    def fixed_view(mine, theirs, turn, player) -> tuple[np.ndarray, list[np.ndarray]]:
        v, grads = net.values_and_grads(_mover_features(game, mine, theirs, turn))
        sign = np.where(player == 0, 1.0, -1.0)
        return np.where(player == 0, v, 1.0 - v), [
            gr * sign.reshape(-1, *[1] * (gr.ndim - 1)) for gr in grads
        ]

    mine, theirs, player = starts(b)  # the mover's view
    turn = np.zeros(b, np.int64)
    v, grads = fixed_view(mine, theirs, turn, player)
    traces = [np.zeros_like(gr) for gr in grads]
    games = 0
    if on_step is not None:
        on_step(0, 0, net)
    for step in range(cfg.steps):
        # one-ply greedy action of each mover, in the mover's view
        totals = turn[:, None] + faces  # (B, die-1)
        running = net(
            _mover_features(
                game, np.repeat(mine, die - 1), np.repeat(theirs, die - 1), np.minimum(totals, g - 1).ravel()
            )
        ).reshape(b, die - 1)
        q_roll = q * (1.0 - net(_mover_features(game, theirs, mine, 0 * turn)))
        q_roll += q * np.where(mine[:, None] + totals >= g, 1.0, running).sum(axis=1)
        q_hold = 1.0 - net(_mover_features(game, theirs, np.minimum(mine + turn, g - 1), 0 * turn))
        hold = (turn > 0) & (q_hold > q_roll)
        roll = rng.integers(1, die + 1, b)
        won = ~hold & (roll > 1) & (mine + turn + roll >= g)
        passes = hold | (~hold & (roll == 1))
        banked = np.where(hold, mine + turn, mine)
        n_mine, n_theirs = np.where(passes, theirs, banked), np.where(passes, banked, theirs)
        n_turn = np.where(passes | won, 0, turn + roll)
        n_player = np.where(passes, 1 - player, player)
        v_next = net(_mover_features(game, n_mine, n_theirs, n_turn))  # no gradient needed here
        v_next = np.where(n_player == 0, v_next, 1.0 - v_next)
        delta = np.where(won, (player == 0).astype(np.float64), v_next) - v
        lr = cfg.alpha * (1.0 - step / cfg.steps)
        for p, e, gr in zip(net.params, traces, grads):
            e *= cfg.lam
            e += gr
            p += lr * np.tensordot(delta, e, axes=1).reshape(p.shape) / b
        if won.any():  # finished games restart from fresh exploring starts with empty traces
            games += int(won.sum())
            n_mine[won], n_theirs[won], n_player[won] = starts(int(won.sum()))
            for e in traces:
                e[won] = 0.0
        mine, theirs, turn, player = n_mine, n_theirs, n_turn, n_player
        v, grads = fixed_view(mine, theirs, turn, player)  # with the updated weights
        if on_step is not None:
            on_step(step + 1, games, net)
    return net
