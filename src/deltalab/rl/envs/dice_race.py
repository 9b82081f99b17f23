"""A dice race (the game of Pig, Neller & Presser 2004, with a short goal) for TD-Gammon-style self-play.

Two players race to ``goal`` points. On a turn the mover rolls a ``die``-sided die as often as
they like, adding each roll to a turn total; rolling a 1 loses the turn total and passes the turn;
"hold" banks the turn total and passes the turn. Reaching ``goal`` (banked + turn total) wins at
once. Rolling is forced at the start of a turn (hold is masked when the turn total is 0).

State: ``(score_0, score_1, turn_total, player)``. Actions: 0 = roll, 1 = hold.

The game is also solved exactly here: :func:`solve_optimal` (value iteration for minimax-optimal
play), :func:`win_probability` (exact win rates of two hold policies, e.g. against
:func:`random_policy`), :func:`greedy_hold_policy` (the one-ply greedy policy of a value table).
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


# --- Exact solution (Neller & Presser 2004) ----------------------------------------------------
# Positions are seen from the mover: arrays [mine, theirs, turn] of shape (goal, goal, goal), entries
# with mine + turn >= goal unused (zero). A policy is the probability of holding in each position,
# (goal, goal, goal) in [0, 1], ignored where turn = 0 (the first roll of a turn is forced).
#
# Both solvers sweep the turn totals downwards: given the turn-start layer [:, :, 0] of the last
# sweep (reached after a bust or a hold), a turn is acyclic in the turn total, so the layers k =
# goal-1 .. 0 follow exactly by backward induction; only the turn-start layer is iterated to a fixed
# point (~50 sweeps at goal 30 where a plain Jacobi sweep over every entry needs ~280). Internally
# the tables are stored layer-first, [turn, mine, theirs], padded to goal + die layers with every
# entry mine + turn >= goal preset to its win value, so a roll's expectation is one sum over the
# layers k+2 .. k+die and each layer is a handful of whole-array operations: at goal 100 (10^6
# positions) value iteration and one exact win rate take ~0.3 s each.


def _padded(game: DiceRace, win: float) -> np.ndarray:
    """A layered table [turn, mine, theirs] of shape (goal + die, goal, goal), every entry with
    mine + turn >= goal preset to ``win`` (that total wins at once), so a roll's expectation at turn
    total k is a plain sum over the layers k+2 .. k+die."""
    g = game.goal
    w = np.zeros((g + game.die, g, g))
    turn, mine = np.arange(g + game.die)[:, None], np.arange(g)[None, :]
    w[turn + mine >= g] = win
    return w


def solve_optimal(
    game: DiceRace, tol: float = 1e-10, max_sweeps: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """Value iteration for minimax-optimal play: ``(V, hold)``, both (goal, goal, goal).

    V[i, j, k] = P(the mover wins) under optimal play by both sides, with the mover's banked score
    i, the opponent's j and turn total k; hold[i, j, k] = 1 where holding is strictly better. The
    game is symmetric, so one table serves both players:

        V(i, j, k) = max( P(1)·(1 − V(j, i, 0)) + Σ_d P(d)·V(i, j, k+d)  [roll; 1 where i+k+d ≥ goal],
                          1 − V(j, i+k, 0)                                 [hold, only if k > 0] )
    """
    g, q = game.goal, 1.0 / game.die
    w = _padded(game, 1.0)  # [k, i, j]
    hold = np.zeros((g, g, g), dtype=bool)  # [k, i, j] while iterating
    for _ in range(max_sweeps):
        lose0 = 1.0 - w[0].T  # 1 − V(j, i, 0) as [i, j]
        v0 = w[0].copy()
        for k in range(g - 1, -1, -1):
            n = g - k  # rows i < goal − k are still running
            roll = q * lose0[:n] + q * w[k + 2 : k + game.die + 1, :n].sum(axis=0)
            if k > 0:
                banked = lose0[k:]  # 1 − V(j, i+k, 0)
                hold[k, :n] = banked > roll
                roll = np.maximum(roll, banked)
            w[k, :n] = roll
        if np.abs(w[0] - v0).max() < tol:
            v = np.where(_running(game), w[:g].transpose(1, 2, 0), 0.0)
            return v, hold.transpose(1, 2, 0).astype(np.float64)
    raise RuntimeError(f"value iteration did not converge to {tol} in {max_sweeps} sweeps")


def _running(game: DiceRace) -> np.ndarray:
    """mine + turn < goal, as [mine, theirs, turn]: (goal, goal, goal)."""
    g = game.goal
    return np.broadcast_to((np.arange(g)[:, None] + np.arange(g)[None, :])[:, None, :] < g, (g, g, g))


def random_policy(game: DiceRace) -> np.ndarray:
    """The random player's hold probability: 1/2 wherever holding is legal: (goal, goal, goal)."""
    g = game.goal
    return np.full((g, g, g), 0.5)


def hold_at_policy(game: DiceRace, threshold: int) -> np.ndarray:
    """ "Hold at ``threshold``": hold once the turn total reaches it: (goal, goal, goal)."""
    turn = np.arange(game.goal)[None, None, :]
    return np.broadcast_to(turn >= threshold, (game.goal,) * 3).astype(np.float64)


def win_probability(
    game: DiceRace, hold_a: np.ndarray, hold_b: np.ndarray, tol: float = 1e-10, max_sweeps: int = 100_000
) -> tuple[float, float]:
    """Exact P(A wins) when A moves first and when B moves first, for (stochastic) hold policies.

    Policy evaluation of the two-player chain: wa[i, j, k] = P(A wins | A to move, A's score i,
    B's j, turn total k), wb[i, j, k] = P(A wins | B to move, B's score i, A's j, turn total k).
    Each sweep runs A's turns against B's last turn-start layer, then B's against A's new one.
    """
    g, q, die = game.goal, 1.0 / game.die, game.die
    wa, wb = _padded(game, 1.0), _padded(game, 0.0)  # [k, i, j]: A / B to move
    pol_a, pol_b = (np.ascontiguousarray(h.transpose(2, 0, 1), dtype=np.float64) for h in (hold_a, hold_b))

    def sweep(w: np.ndarray, pol: np.ndarray, other0: np.ndarray) -> None:
        hand = other0.T  # the opponent to move with the scores swapped, as [i, j]
        for k in range(g - 1, -1, -1):
            n = g - k
            roll = q * hand[:n] + q * w[k + 2 : k + die + 1, :n].sum(axis=0)  # a bust hands the turn over
            if k > 0:
                p = pol[k, :n]
                roll = p * hand[k:] + (1 - p) * roll  # holding banks i + k
            w[k, :n] = roll

    for _ in range(max_sweeps):
        a0, b0 = wa[0].copy(), wb[0].copy()
        sweep(wa, pol_a, wb[0])
        sweep(wb, pol_b, wa[0])
        if max(np.abs(wa[0] - a0).max(), np.abs(wb[0] - b0).max()) < tol:
            return float(wa[0, 0, 0]), float(wb[0, 0, 0])
    raise RuntimeError(f"policy evaluation did not converge to {tol} in {max_sweeps} sweeps")


def greedy_hold_policy(game: DiceRace, v: np.ndarray) -> np.ndarray:
    """The one-ply greedy policy of a table of P(the mover wins) (goal, goal, goal): hold where
    1 − v(j, i+k, 0) beats the expectation of rolling, ties to rolling as in ``action_values``
    (the same arithmetic as :func:`solve_optimal`, so V*'s greedy policy is exactly its policy)."""
    g, q = game.goal, 1.0 / game.die
    w = _padded(game, 1.0)
    w[:g] = np.where(_running(game), v, 1.0).transpose(2, 0, 1)
    lose0 = 1.0 - w[0].T
    hold = np.zeros((g, g, g))  # [k, i, j]
    for k in range(1, g):
        n = g - k
        roll = q * lose0[:n] + q * w[k + 2 : k + game.die + 1, :n].sum(axis=0)
        hold[k, :n] = lose0[k:] > roll
    return hold.transpose(1, 2, 0).copy()
