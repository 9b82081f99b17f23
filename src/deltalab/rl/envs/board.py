"""Two-player, zero-sum, perfect-information board games: the rules as pure functions and one gymnasium wrapper.

Search (minimax, MCTS, AlphaZero) works on the pure rules: a state is a hashable tuple of cells
(+1 first player, -1 second player, 0 empty), so positions can be memoized. ``BoardGameEnv`` wraps
any :class:`BoardGame` as a ``gymnasium.Env`` whose ``info["action_mask"]`` marks the legal moves.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

State = tuple[int, ...]


class BoardGame:
    """Rules of an alternating two-player game. Subclasses set ``n_actions``/``n_cells`` and the methods."""

    n_actions: int
    n_cells: int
    name: str = "board-game"

    def initial_state(self) -> State:
        return (0,) * self.n_cells

    def to_play(self, state: State) -> int:
        """+1 if the first player moves next, else -1 (the first player moved as often as the second)."""
        return 1 if sum(state) == 0 else -1

    def legal_actions(self, state: State) -> list[int]:
        raise NotImplementedError

    def next_state(self, state: State, action: int) -> State:
        raise NotImplementedError

    def winner(self, state: State) -> int:
        """+1 / -1 if that player has won, 0 otherwise (draw or still running)."""
        raise NotImplementedError

    def is_terminal(self, state: State) -> bool:
        return self.winner(state) != 0 or not self.legal_actions(state)

    def terminal_value(self, state: State) -> float:
        """Outcome of a terminal state for the player to move there: -1 (the mover just lost) or 0."""
        return -1.0 if self.winner(state) != 0 else 0.0

    def action_mask(self, state: State) -> np.ndarray:
        mask = np.zeros(self.n_actions, dtype=np.int8)
        mask[self.legal_actions(state)] = 1
        return mask

    def encode(self, state: State) -> np.ndarray:
        """Planes from the mover's view: (own stones, opponent stones), flattened: (2 · n_cells,)."""
        s = np.asarray(state, dtype=np.float32) * self.to_play(state)
        return np.concatenate([(s > 0), (s < 0)]).astype(np.float32)


class BoardGameEnv(gym.Env):
    """A :class:`BoardGame` as a gymnasium environment; both players act through ``step``.

    The reward is for the player who just moved: +1 for a winning move, 0 otherwise. An illegal
    action raises ``ValueError`` (the mask in ``info`` says what is legal).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, game: BoardGame) -> None:
        self.game = game
        self.observation_space = gym.spaces.Box(-1, 1, shape=(game.n_cells,), dtype=np.int8)
        self.action_space = gym.spaces.Discrete(game.n_actions)
        self.state = game.initial_state()

    def _obs(self) -> tuple[np.ndarray, dict[str, Any]]:
        info = {"action_mask": self.game.action_mask(self.state), "to_play": self.game.to_play(self.state)}
        return np.asarray(self.state, dtype=np.int8), info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.state = self.game.initial_state()
        return self._obs()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.game.is_terminal(self.state):
            raise ValueError("the game is over; call reset()")
        if action not in self.game.legal_actions(self.state):
            raise ValueError(f"illegal action {action}; legal: {self.game.legal_actions(self.state)}")
        self.state = self.game.next_state(self.state, int(action))
        reward = 1.0 if self.game.winner(self.state) != 0 else 0.0
        obs, info = self._obs()
        return obs, reward, self.game.is_terminal(self.state), False, info

    def render(self) -> str:
        return self.game.render(self.state) if hasattr(self.game, "render") else str(self.state)
