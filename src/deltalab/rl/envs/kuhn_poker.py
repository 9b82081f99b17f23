"""Kuhn poker (Kuhn 1950): three cards, one bet; small enough that exploitability is exact.

Each player antes 1 and gets one of J, Q, K (0, 1, 2). Player 1 checks (p) or bets (b); after "p"
player 2 checks (showdown for 1) or bets; after "pb" or "b" the other player folds (p) or calls
(b, showdown for 2). Game value for player 1: -1/18.

A behaviour strategy is the probability of "b" (bet/call) at each of 12 information sets:
``0..5`` player 1 (``2·card + [history == "pb"]``), ``6..11`` player 2 (``6 + 2·card + [history == "b"]``).
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

import gymnasium as gym
import numpy as np

N_INFOSETS = 12
GAME_VALUE = -1.0 / 18.0
DEALS = tuple(permutations(range(3), 2))  # 6 equiprobable (card_1, card_2)


def _showdown(c1: int, c2: int, stake: float) -> float:
    return stake if c1 > c2 else -stake


def expected_payoff(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Player 1's expected payoff when player 1 plays ``sigma1[:6]`` and player 2 plays ``sigma2[6:]``."""
    total = 0.0
    for c1, c2 in DEALS:
        b1, b1pb = sigma1[2 * c1], sigma1[2 * c1 + 1]
        b2p, b2b = sigma2[6 + 2 * c2], sigma2[6 + 2 * c2 + 1]
        v_pb = b1pb * _showdown(c1, c2, 2.0) - (1 - b1pb) * 1.0
        v_p = (1 - b2p) * _showdown(c1, c2, 1.0) + b2p * v_pb
        v_b = b2b * _showdown(c1, c2, 2.0) + (1 - b2b) * 1.0
        total += (1 - b1) * v_p + b1 * v_b
    return total / len(DEALS)


def best_response_values(sigma: np.ndarray) -> tuple[float, float]:
    """``(max_τ u1(τ, σ), max_τ u2(σ, τ))``: what a best responder earns against each half of σ."""
    # Player 1 best-responds to sigma's player-2 half, information set by information set.
    br1 = 0.0
    for c1 in range(3):
        opp = [c for c in range(3) if c != c1]
        v_pb_call = sum(sigma[6 + 2 * c2] * _showdown(c1, c2, 2.0) for c2 in opp)
        v_pb_fold = sum(sigma[6 + 2 * c2] * -1.0 for c2 in opp)
        v_check = sum((1 - sigma[6 + 2 * c2]) * _showdown(c1, c2, 1.0) for c2 in opp) + max(
            v_pb_call, v_pb_fold
        )
        v_bet = sum(sigma[7 + 2 * c2] * _showdown(c1, c2, 2.0) + (1 - sigma[7 + 2 * c2]) for c2 in opp)
        br1 += max(v_check, v_bet)
    # Player 2 best-responds to sigma's player-1 half; each of its information sets ends its choices.
    br2 = 0.0
    for c2 in range(3):
        opp = [c for c in range(3) if c != c2]
        # after "p": check -> showdown 1; bet -> player 1 folds (+1) or calls (showdown 2)
        w_p = [(1 - sigma[2 * c1]) for c1 in opp]
        v_check = sum(w * -_showdown(c1, c2, 1.0) for w, c1 in zip(w_p, opp))
        v_bet = sum(
            w * (sigma[2 * c1 + 1] * -_showdown(c1, c2, 2.0) + (1 - sigma[2 * c1 + 1]))
            for w, c1 in zip(w_p, opp)
        )
        # after "b": fold -> -1; call -> showdown 2
        w_b = [sigma[2 * c1] for c1 in opp]
        v_fold = sum(w * -1.0 for w in w_b)
        v_call = sum(w * -_showdown(c1, c2, 2.0) for w, c1 in zip(w_b, opp))
        br2 += max(v_check, v_bet) + max(v_fold, v_call)
    return br1 / len(DEALS), br2 / len(DEALS)


def exploitability(sigma: np.ndarray) -> float:
    """NashConv / 2 = (BR₁(σ₂) + BR₂(σ₁)) / 2 ≥ 0; zero exactly at a Nash equilibrium."""
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape != (N_INFOSETS,):
        raise ValueError(f"a Kuhn strategy has shape (12,), got {sigma.shape}")
    br1, br2 = best_response_values(sigma)
    return 0.5 * (br1 + br2)


def nash_strategy(alpha: float = 1.0 / 3.0) -> np.ndarray:
    """The equilibrium family of Kuhn (1950), parameterized by player 1's bluff rate α ∈ [0, 1/3]: (12,)."""
    if not 0.0 <= alpha <= 1.0 / 3.0:
        raise ValueError(f"alpha must be in [0, 1/3], got {alpha}")
    s = np.zeros(N_INFOSETS)
    s[[0, 2, 4]] = [alpha, 0.0, 3 * alpha]  # player 1 opens: bluff J, check Q, value-bet K
    s[[1, 3, 5]] = [0.0, alpha + 1 / 3, 1.0]  # player 1 after "pb": fold J, call Q sometimes, call K
    s[[6, 8, 10]] = [1 / 3, 0.0, 1.0]  # player 2 after "p": bluff J 1/3, check Q, bet K
    s[[7, 9, 11]] = [0.0, 1 / 3, 1.0]  # player 2 after "b": fold J, call Q 1/3, call K
    return s


def play_batch(
    sigma1: np.ndarray, sigma2: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``n`` games. Returns payoff to player 1 (n,), and per game up to 2 decisions of each seat:
    ``infosets (n, 4)`` (-1 where none) and ``actions (n, 4)``; columns 0,1 player 1, columns 2,3 player 2."""
    deals = np.array(DEALS)[rng.integers(0, 6, size=n)]  # (n, 2)
    c1, c2 = deals[:, 0], deals[:, 1]
    u = rng.random((n, 3))
    info = np.full((n, 4), -1, dtype=np.int64)
    act = np.zeros((n, 4), dtype=np.int64)
    i1 = 2 * c1
    a1 = (u[:, 0] < sigma1[i1]).astype(np.int64)
    info[:, 0], act[:, 0] = i1, a1
    i2 = 6 + 2 * c2 + a1  # player 2 sees "p" (a1=0) or "b" (a1=1)
    a2 = (u[:, 1] < sigma2[i2]).astype(np.int64)
    info[:, 2], act[:, 2] = i2, a2
    win = np.where(c1 > c2, 1.0, -1.0)
    pay = np.where(a1 == 1, np.where(a2 == 1, 2 * win, 1.0), np.where(a2 == 0, win, 0.0))
    pb = (a1 == 0) & (a2 == 1)  # player 1 must answer a bet
    i3 = 2 * c1 + 1
    a3 = (u[:, 2] < sigma1[i3]).astype(np.int64)
    info[:, 1] = np.where(pb, i3, -1)
    act[:, 1] = np.where(pb, a3, 0)
    pay = np.where(pb, np.where(a3 == 1, 2 * win, -1.0), pay)
    return pay, info, act


class KuhnPokerEnv(gym.Env):
    """Kuhn poker for two alternating players; ``info["action_mask"]`` (both actions always legal),
    reward: player 1's payoff at the end (zero-sum). Observation: (own card, history code)."""

    HISTORIES = ("", "p", "b", "pb")

    def __init__(self) -> None:
        self.observation_space = gym.spaces.MultiDiscrete([3, 4])
        self.action_space = gym.spaces.Discrete(2)
        self.cards = (0, 1)
        self.history = ""

    def _obs(self) -> tuple[np.ndarray, dict[str, Any]]:
        player = len(self.history) % 2
        obs = np.array([self.cards[player], self.HISTORIES.index(self.history)])
        return obs, {"action_mask": np.ones(2, dtype=np.int8), "to_play": player}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.cards = DEALS[int(self.np_random.integers(6))]
        self.history = ""
        return self._obs()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if action not in (0, 1):
            raise ValueError(f"action must be 0 (pass) or 1 (bet), got {action}")
        h = self.history + "pb"[action]
        c1, c2 = self.cards
        payoff = {
            "pp": _showdown(c1, c2, 1.0),
            "bb": _showdown(c1, c2, 2.0),
            "bp": 1.0,
            "pbb": _showdown(c1, c2, 2.0),
            "pbp": -1.0,
        }.get(h)
        self.history = h
        if payoff is not None:
            return (
                np.array([self.cards[len(h) % 2], 0]),
                payoff,
                True,
                False,
                {"action_mask": np.ones(2, dtype=np.int8)},
            )
        obs, info = self._obs()
        return obs, 0.0, False, False, info
