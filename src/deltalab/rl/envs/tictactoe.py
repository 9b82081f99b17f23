"""Tic-tac-toe: 5,478 reachable positions (empty board included), value 0 under perfect play.

Cells 0..8 row-major; X (+1) moves first.
"""

from __future__ import annotations

from functools import cache

from deltalab.rl.envs.board import BoardGame, BoardGameEnv, State

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


@cache
def _winner(state: State) -> int:
    for a, b, c in LINES:
        if state[a] != 0 and state[a] == state[b] == state[c]:
            return state[a]
    return 0


@cache
def _legal(state: State) -> tuple[int, ...]:
    if _winner(state) != 0:
        return ()
    return tuple(i for i, v in enumerate(state) if v == 0)


class TicTacToe(BoardGame):
    """The rules; all methods are pure and memoized on the state tuple."""

    n_actions = 9
    n_cells = 9
    name = "tictactoe"

    def legal_actions(self, state: State) -> list[int]:
        return list(_legal(state))

    def next_state(self, state: State, action: int) -> State:
        s = list(state)
        s[action] = self.to_play(state)
        return tuple(s)

    def winner(self, state: State) -> int:
        return _winner(state)

    def is_terminal(self, state: State) -> bool:
        return not _legal(state)

    def symmetries(self) -> list[tuple[int, ...]]:
        """The 8 cell permutations of the square's symmetry group: ``new[i] = old[perm[i]]``."""
        perms = []
        for k in range(4):
            for flip in (False, True):
                perm = []
                for r in range(3):
                    for c in range(3):
                        rr, cc = (r, 2 - c) if flip else (r, c)
                        for _ in range(k):
                            rr, cc = cc, 2 - rr  # rotate by 90 degrees
                        perm.append(3 * rr + cc)
                perms.append(tuple(perm))
        return perms

    def render(self, state: State) -> str:
        ch = {1: "X", -1: "O", 0: "."}
        return "\n".join("".join(ch[state[3 * r + c]] for c in range(3)) for r in range(3))


def reachable_states(game: BoardGame) -> set[State]:
    """Every position reachable from the empty board by legal play (terminal ones included)."""
    seen = {game.initial_state()}
    stack = [game.initial_state()]
    while stack:
        s = stack.pop()
        for a in game.legal_actions(s):
            t = game.next_state(s, a)
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


class TicTacToeEnv(BoardGameEnv):
    """Tic-tac-toe as a gymnasium env with ``info["action_mask"]``."""

    def __init__(self) -> None:
        super().__init__(TicTacToe())
