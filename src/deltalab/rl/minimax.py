"""Minimax and α–β pruning (Knuth & Moore 1975, "An analysis of alpha-beta pruning"), in negamax form.

    V(s) = terminal value            if s is terminal
    V(s) = max_a  -V(next(s, a))     otherwise   (values are for the player to move)

α–β keeps a window [α, β] and stops expanding a node once its value is proven outside it.
Departures: 1. negamax (one max, sign flips) instead of separate max/min players;
2. ``solve`` memoizes values by position (a transposition table), ``minimax`` and ``alphabeta``
count nodes without one, as the textbook counts do; 3. ``alphabeta`` takes a depth limit and a
heuristic for games too large to solve (small connect-four); ``alphabeta_player`` plays by it, and
``games_over_tiebreaks`` plays a deterministic player against every tie-break of such an opponent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deltalab.rl.envs.board import BoardGame, State


@dataclass
class Counter:
    """Nodes visited by a search (every position whose value the search asked for)."""

    nodes: int = 0


def minimax(game: BoardGame, state: State, counter: Counter | None = None) -> float:
    """Plain negamax over the full tree (no pruning, no memo); ``counter.nodes`` counts visits."""
    if counter is not None:
        counter.nodes += 1
    if game.is_terminal(state):
        return game.terminal_value(state)
    return max(-minimax(game, game.next_state(state, a), counter) for a in game.legal_actions(state))


def alphabeta(
    game: BoardGame,
    state: State,
    alpha: float = -np.inf,
    beta: float = np.inf,
    counter: Counter | None = None,
    depth: int | None = None,
    heuristic: Callable[[BoardGame, State], float] | None = None,
) -> float:
    """Negamax with α–β pruning; exact when ``depth`` is None, else ``heuristic`` scores the horizon."""
    if counter is not None:
        counter.nodes += 1
    if game.is_terminal(state):
        return game.terminal_value(state)
    if depth is not None and depth <= 0:
        if heuristic is None:
            raise ValueError("a depth-limited search needs a heuristic")
        return heuristic(game, state)
    value = -np.inf
    for a in game.legal_actions(state):
        child_depth = None if depth is None else depth - 1
        value = max(
            value, -alphabeta(game, game.next_state(state, a), -beta, -alpha, counter, child_depth, heuristic)
        )
        alpha = max(alpha, value)
        if alpha >= beta:
            break  # the opponent will never allow this position
    return value


class Solver:
    """Exact game values by memoized negamax; ``optimal_actions`` gives every value-maximizing move."""

    def __init__(self, game: BoardGame) -> None:
        self.game = game
        self.values: dict[State, float] = {}

    def value(self, state: State) -> float:
        v = self.values.get(state)
        if v is None:
            g = self.game
            if g.is_terminal(state):
                v = g.terminal_value(state)
            else:
                v = max(-self.value(g.next_state(state, a)) for a in g.legal_actions(state))
            self.values[state] = v
        return v

    def action_values(self, state: State) -> dict[int, float]:
        """Value of each legal move for the player to move."""
        return {a: -self.value(self.game.next_state(state, a)) for a in self.game.legal_actions(state)}

    def optimal_actions(self, state: State) -> list[int]:
        q = self.action_values(state)
        best = max(q.values())
        return [a for a, v in q.items() if v == best]


def line_heuristic(game: BoardGame, state: State) -> float:
    """Connect-k horizon score in (-1, 1) for the mover: open lines weighted by stones in them."""
    lines = getattr(game, "lines", None)
    if lines is None:
        raise ValueError(f"line_heuristic needs a game with .lines, got {type(game).__name__}")
    me = game.to_play(state)
    score = 0.0
    for line in lines:
        vals = [state[i] for i in line]
        mine, theirs = vals.count(me), vals.count(-me)
        if theirs == 0 and mine:
            score += 4.0**mine
        elif mine == 0 and theirs:
            score -= 4.0**theirs
    return float(np.tanh(score / 200.0))


def alphabeta_moves(
    game: BoardGame,
    state: State,
    depth: int,
    heuristic: Callable[[BoardGame, State], float] = line_heuristic,
) -> list[int]:
    """Every legal move whose depth-``depth`` α–β value is best for the mover, in action order.

    ``depth`` counts plies including the move itself: depth 2 sees the mover's move and every reply,
    then scores the horizon with ``heuristic`` (so it takes a win in one and blocks a loss in one,
    but walks into a double threat three plies ahead). Values within 1e-12 count as tied.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    best, moves = -np.inf, []
    for a in game.legal_actions(state):
        v = -alphabeta(game, game.next_state(state, a), depth=depth - 1, heuristic=heuristic)
        if v > best + 1e-12:
            best, moves = v, [a]
        elif abs(v - best) <= 1e-12:
            moves.append(a)
    return moves


def alphabeta_player(
    game: BoardGame,
    depth: int,
    heuristic: Callable[[BoardGame, State], float] = line_heuristic,
    rng: np.random.Generator | None = None,
) -> Callable[[State], int]:
    """A depth-limited α–β player: a best move of :func:`alphabeta_moves`, ties broken by ``rng``
    (uniformly) or, without one, by the lowest action. :func:`games_over_tiebreaks` plays every
    tie-break instead."""

    def act(state: State) -> int:
        moves = alphabeta_moves(game, state, depth, heuristic)
        return moves[0] if rng is None else int(rng.choice(moves))

    return act


def alphabeta_policy(
    game: BoardGame, depth: int, rng: np.random.Generator | None = None
) -> Callable[[State], int]:
    """:func:`alphabeta_player` with :func:`line_heuristic` (the alphago claim's expert and opponent)."""
    return alphabeta_player(game, depth, line_heuristic, rng)


def games_over_tiebreaks(
    game: BoardGame,
    act: Callable[[State], int],
    opponent_moves: Callable[[State], list[int]],
    as_player: int,
) -> tuple[int, int, int]:
    """Play the deterministic ``act`` as ``as_player`` against every branch of an opponent's tied moves.

    ``opponent_moves(state)`` lists the moves the opponent might play (e.g. ``alphabeta_moves``'s
    ties); each distinct game is one branch. Returns ``(games, wins, losses)`` for ``act``.
    """
    games = wins = losses = 0
    stack = [game.initial_state()]
    while stack:
        s = stack.pop()
        if game.is_terminal(s):
            w = game.winner(s)
            games, wins, losses = games + 1, wins + int(w == as_player), losses + int(w == -as_player)
            continue
        if game.to_play(s) == as_player:
            stack.append(game.next_state(s, act(s)))
        else:
            stack.extend(game.next_state(s, a) for a in opponent_moves(s))
    return games, wins, losses
