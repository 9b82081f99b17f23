"""Connect-four on a small, configurable board (default 5 columns × 4 rows, four in a row wins).

Cells are row-major with row 0 at the bottom; an action is a column.
"""

from __future__ import annotations

from functools import lru_cache

from deltalab.rl.envs.board import BoardGame, BoardGameEnv, State


def _lines(rows: int, cols: int, k: int) -> tuple[tuple[int, ...], ...]:
    out = []
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + i * dr, c + i * dc) for i in range(k)]
                if all(0 <= rr < rows and 0 <= cc < cols for rr, cc in cells):
                    out.append(tuple(rr * cols + cc for rr, cc in cells))
    return tuple(out)


class ConnectFour(BoardGame):
    """Gravity connect-k on a ``rows × cols`` board."""

    name = "connect4"

    def __init__(self, rows: int = 4, cols: int = 5, k: int = 4) -> None:
        if rows < 2 or cols < 2:
            raise ValueError(f"board must be at least 2×2, got rows={rows}, cols={cols}")
        if not 2 <= k <= max(rows, cols):
            raise ValueError(f"k must be in [2, max(rows, cols)={max(rows, cols)}], got {k}")
        self.rows, self.cols, self.k = rows, cols, k
        self.n_actions = cols
        self.n_cells = rows * cols
        self.lines = _lines(rows, cols, k)
        # Per-instance caches: the rules are pure, positions recur in search.
        self.winner = lru_cache(maxsize=1 << 20)(self._winner)  # type: ignore[method-assign]
        self.legal_actions = lru_cache(maxsize=1 << 20)(self._legal)  # type: ignore[method-assign]

    def _winner(self, state: State) -> int:
        for line in self.lines:
            v = state[line[0]]
            if v != 0 and all(state[i] == v for i in line[1:]):
                return v
        return 0

    def _legal(self, state: State) -> list[int]:
        if self.winner(state) != 0:
            return []
        top = (self.rows - 1) * self.cols
        return [c for c in range(self.cols) if state[top + c] == 0]

    def next_state(self, state: State, action: int) -> State:
        for r in range(self.rows):
            i = r * self.cols + action
            if state[i] == 0:
                s = list(state)
                s[i] = self.to_play(state)
                return tuple(s)
        raise ValueError(f"column {action} is full")

    def is_terminal(self, state: State) -> bool:
        return not self.legal_actions(state)

    def render(self, state: State) -> str:
        ch = {1: "X", -1: "O", 0: "."}
        rows = ["".join(ch[state[r * self.cols + c]] for c in range(self.cols)) for r in range(self.rows)]
        return "\n".join(reversed(rows))


class ConnectFourEnv(BoardGameEnv):
    """Small connect-four as a gymnasium env with ``info["action_mask"]``."""

    def __init__(self, rows: int = 4, cols: int = 5, k: int = 4) -> None:
        super().__init__(ConnectFour(rows, cols, k))
