"""Monte-Carlo tree search: UCT with random rollouts (Kocsis & Szepesvári 2006, "Bandit based
Monte-Carlo planning") and PUCT guided by a policy/value function (Silver et al. 2017, arXiv:1712.01815).

    UCT:  a* = argmax_a  Q(s,a) + c · sqrt(ln N(s) / N(s,a))           (untried moves first)
    PUCT: a* = argmax_a  Q(s,a) + c_puct · P(s,a) · sqrt(N(s)) / (1 + N(s,a))

Q(s, a) is the mean outcome for the player who chose a, so every node maximizes. A leaf is valued
by a random rollout (UCT) or by ``evaluate(state) -> (priors (A,), value)`` (PUCT; value for the
player to move). Works on any :class:`~deltalab.rl.envs.board.BoardGame`.
Departures: 1. no transpositions inside the tree (a DAG would save little on small boards);
2. PUCT's unvisited children start at Q = 0 (AlphaZero's choice, a draw in tic-tac-toe terms);
3. the move played is the most-visited child, ties broken by the lowest action.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deltalab.rl.envs.board import BoardGame, State

Evaluate = Callable[[State], tuple[np.ndarray, float]]


class Node:
    """One position: visit count, total value (for the player who moved into it), prior, children."""

    __slots__ = ("state", "n", "w", "prior", "children", "untried")

    def __init__(self, state: State, prior: float = 0.0) -> None:
        self.state = state
        self.n = 0
        self.w = 0.0
        self.prior = prior
        self.children: dict[int, Node] = {}
        self.untried: list[int] | None = None


def random_rollout(game: BoardGame, state: State, rng: np.random.Generator) -> float:
    """Play uniformly random moves to the end; outcome for the player to move at ``state``."""
    mover = game.to_play(state)
    while not game.is_terminal(state):
        legal = game.legal_actions(state)
        state = game.next_state(state, legal[int(rng.integers(len(legal)))])
    # terminal_value is for the player to move at the end; flip into ``mover``'s view
    return game.terminal_value(state) * (1 if game.to_play(state) == mover else -1)


def _backup(path: list[Node], value: float) -> None:
    """``value`` is for the player to move at the leaf; each node stores its parent's mover's view."""
    for node in reversed(path):
        value = -value
        node.n += 1
        node.w += value


def uct_search(
    game: BoardGame, state: State, n_simulations: int, rng: np.random.Generator, c: float = 1.4
) -> np.ndarray:
    """Visit counts of the root's actions after ``n_simulations`` UCT simulations: (A,)."""
    if n_simulations <= 0:
        raise ValueError(f"n_simulations must be > 0, got {n_simulations}")
    root = Node(state)
    for _ in range(n_simulations):
        node, path = root, [root]
        while True:
            if game.is_terminal(node.state):
                value = game.terminal_value(node.state)
                break
            if node.untried is None:
                node.untried = list(game.legal_actions(node.state))
                rng.shuffle(node.untried)
            if node.untried:
                a = node.untried.pop()
                child = Node(game.next_state(node.state, a))
                node.children[a] = child
                path.append(child)
                value = random_rollout(game, child.state, rng)
                break
            log_n = math.log(node.n)
            node = max(node.children.values(), key=lambda ch: ch.w / ch.n + c * math.sqrt(log_n / ch.n))
            path.append(node)
        _backup(path, value)
    counts = np.zeros(game.n_actions)
    for a, ch in root.children.items():
        counts[a] = ch.n
    return counts


def puct_search(
    game: BoardGame,
    state: State,
    evaluate: Evaluate,
    n_simulations: int,
    c_puct: float = 1.5,
    dirichlet_alpha: float | None = None,
    noise_frac: float = 0.25,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Visit counts of the root's actions after ``n_simulations`` PUCT simulations: (A,).

    With ``dirichlet_alpha`` the root priors become (1 - ε) P + ε Dir(α) (AlphaZero's exploration).
    """
    if n_simulations <= 0:
        raise ValueError(f"n_simulations must be > 0, got {n_simulations}")
    root = Node(state)
    for sim in range(n_simulations):
        node, path = root, [root]
        while node.children:
            sqrt_n = math.sqrt(node.n)
            node = max(
                node.children.values(),
                key=lambda ch: (ch.w / ch.n if ch.n else 0.0) + c_puct * ch.prior * sqrt_n / (1 + ch.n),
            )
            path.append(node)
        if game.is_terminal(node.state):
            value = game.terminal_value(node.state)
        else:
            priors, value = evaluate(node.state)
            legal = game.legal_actions(node.state)
            p = priors[legal]
            p = p / p.sum() if p.sum() > 0 else np.full(len(legal), 1.0 / len(legal))
            if sim == 0 and dirichlet_alpha is not None:
                if rng is None:
                    raise ValueError("Dirichlet noise needs an rng")
                p = (1 - noise_frac) * p + noise_frac * rng.dirichlet([dirichlet_alpha] * len(legal))
            for a, pa in zip(legal, p):
                node.children[a] = Node(game.next_state(node.state, a), float(pa))
        _backup(path, value)
    counts = np.zeros(game.n_actions)
    for a, ch in root.children.items():
        counts[a] = ch.n
    return counts


def uniform_evaluate(game: BoardGame) -> Evaluate:
    """Uniform priors and value 0: PUCT with an untrained net (the AlphaZero comparison baseline)."""

    def evaluate(state: State) -> tuple[np.ndarray, float]:
        return np.full(game.n_actions, 1.0 / game.n_actions), 0.0

    return evaluate
