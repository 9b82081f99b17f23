"""A dice race (the game of Pig, Neller & Presser 2004, with a short goal) for TD-Gammon-style self-play.

Two players race to ``goal`` points. On a turn the mover rolls a ``die``-sided die as often as
they like, adding each roll to a turn total; rolling a 1 loses the turn total and passes the turn;
"hold" banks the turn total and passes the turn. Reaching ``goal`` (banked + turn total) wins at
once. Rolling is forced at the start of a turn (hold is masked when the turn total is 0).

State: ``(score_0, score_1, turn_total, player)``. Actions: 0 = roll, 1 = hold.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

ROLL, HOLD = 0, 1
DiceState = tuple[int, int, int, int]


class DiceRace:
    """The pure rules: outcomes of an action with their probabilities."""

    def __init__(self, goal: int = 30, die: int = 6) -> None:
        if goal < 2:
            raise ValueError(f"goal must be >= 2, got {goal}")
        if die < 2:
            raise ValueError(f"die must have >= 2 sides, got {die}")
        self.goal, self.die = goal, die

    def initial_state(self) -> DiceState:
        return (0, 0, 0, 0)

    def legal_actions(self, state: DiceState) -> list[int]:
        return [ROLL, HOLD] if state[2] > 0 else [ROLL]

    def outcomes(self, state: DiceState, action: int) -> list[tuple[float, DiceState, int]]:
        """``[(probability, next_state, winner)]``; winner is the winning player (0/1) or -1 while running."""
        s0, s1, turn, p = state
        mine = s0 if p == 0 else s1
        if action == HOLD:
            if turn == 0:
                raise ValueError("hold is illegal with a turn total of 0")
            banked = (mine + turn, s1) if p == 0 else (s0, mine + turn)
            return [(1.0, (*banked, 0, 1 - p), -1)]
        q = 1.0 / self.die
        out: list[tuple[float, DiceState, int]] = [(q, (s0, s1, 0, 1 - p), -1)]  # rolled a 1: bust
        for d in range(2, self.die + 1):
            t = turn + d
            if mine + t >= self.goal:
                won = (mine + t, s1) if p == 0 else (s0, mine + t)
                out.append((q, (*won, 0, p), p))
            else:
                out.append((q, (s0, s1, t, p), -1))
        return out

    def step(self, state: DiceState, action: int, rng: np.random.Generator) -> tuple[DiceState, int]:
        """Sample an outcome: ``(next_state, winner)``."""
        outs = self.outcomes(state, action)
        i = 0 if len(outs) == 1 else int(rng.integers(len(outs)))  # outcomes are equiprobable
        return outs[i][1], outs[i][2]

    def encode(self, state: DiceState) -> np.ndarray:
        """Fixed view of player 0 (as TD-Gammon's "white"): scores and turn total over goal, mover flag: (4,)."""
        s0, s1, turn, p = state
        g = float(self.goal)
        return np.array([s0 / g, s1 / g, turn / g, float(p)], dtype=np.float32)


class DiceRaceEnv(gym.Env):
    """Pig as a gymnasium env for two alternating players; reward +1 to the player whose move wins."""

    def __init__(self, goal: int = 30, die: int = 6) -> None:
        self.rules = DiceRace(goal, die)
        self.observation_space = gym.spaces.Box(0.0, 2.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.state = self.rules.initial_state()

    def _info(self) -> dict[str, Any]:
        mask = np.zeros(2, dtype=np.int8)
        mask[self.rules.legal_actions(self.state)] = 1
        return {"action_mask": mask, "to_play": self.state[3]}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.state = self.rules.initial_state()
        return self.rules.encode(self.state), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if action not in self.rules.legal_actions(self.state):
            raise ValueError(f"illegal action {action} in state {self.state}")
        self.state, winner = self.rules.step(self.state, int(action), self.np_random)
        done = winner >= 0
        return self.rules.encode(self.state), float(done), done, False, self._info()
