"""League training after AlphaStar (Vinyals et al. 2019, "Grandmaster level in StarCraft II using
multi-agent RL", Nature 575) on Kuhn poker, against plain self-play at an equal number of games.

Every learner improves its behaviour strategy σ = sigmoid(θ) (12 information sets) by REINFORCE on
sampled games against an opponent chosen by its matchmaking rule:

    θ_i ← θ_i + lr · mean_games[ (u - ū) · (a_i - σ_i) ]     (score function of a Bernoulli action)

- main agent: 35% self-play, 50% prioritized fictitious self-play (PFSP) over frozen snapshots
  of the whole league, 15% against the current main exploiter;
- main exploiter: plays the current main agent only; reset to a fresh strategy every ``reset_every`` updates;
- league exploiter: PFSP over all snapshots; reset with probability ``league_reset_p`` at each snapshot;
- every ``snapshot_every`` updates each learner adds a frozen copy of itself to the league.

PFSP draws opponent B with probability ∝ (1 - p(A beats B))² (AlphaStar's "hard" weighting).
Exploitability is exact (:func:`deltalab.rl.envs.kuhn_poker.exploitability`).
Departures: 1. REINFORCE on a 12-number strategy instead of V-trace/UPGO on a deep net; 2. p(A beats B)
is the exact expected payoff mapped to [0, 1] (payoffs lie in [-2, 2]) rather than a win-rate tally;
3. one seat is drawn per game at random, so each strategy half learns from half the games.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deltalab.rl.envs.kuhn_poker import N_INFOSETS, expected_payoff, exploitability, play_batch


@dataclass
class LeagueConfig:
    """League and self-play hyperparameters on Kuhn poker."""

    total_games: int = 1_000_000
    """games played by all learners together (self-play gets the same number)"""
    games_per_update: int = 200
    """games per REINFORCE update"""
    lr: float = 3.0
    """step size on the logits"""
    snapshot_every: int = 20
    """updates of a learner between frozen snapshots"""
    reset_every: int = 100
    """updates between main-exploiter resets"""
    league_reset_p: float = 0.25
    """probability that a league exploiter resets at a snapshot"""

    def __post_init__(self) -> None:
        if self.games_per_update <= 0 or self.total_games < self.games_per_update:
            raise ValueError(
                f"need 0 < games_per_update <= total_games, got {self.games_per_update}, {self.total_games}"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass
class Learner:
    """A learning strategy (logits, 12) and its role."""

    role: str
    theta: np.ndarray = field(default_factory=lambda: np.zeros(N_INFOSETS))
    updates: int = 0

    @property
    def sigma(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.theta))


def reinforce_update(
    learner: Learner, opponent: np.ndarray, n: int, lr: float, rng: np.random.Generator
) -> None:
    """Play ``n`` games against the fixed strategy ``opponent`` (each game on a random seat), step θ."""
    sigma = learner.sigma
    seat1 = rng.random(n) < 0.5
    n1 = int(seat1.sum())
    grad = np.zeros(N_INFOSETS)
    for as_p1, m in ((True, n1), (False, n - n1)):
        if m == 0:
            continue
        pay, info, act = play_batch(sigma, opponent, m, rng) if as_p1 else play_batch(opponent, sigma, m, rng)
        u = pay if as_p1 else -pay  # (m,) the learner's payoff
        cols = [0, 1] if as_p1 else [2, 3]
        adv = u - u.mean()
        for c in cols:
            ok = info[:, c] >= 0
            np.add.at(grad, info[ok, c], adv[ok] * (act[ok, c] - sigma[info[ok, c]]))
    learner.theta += lr * grad / n
    learner.updates += 1


def _pfsp(learner: Learner, pool: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Draw an opponent from ``pool`` with probability ∝ (1 - p_win)²."""
    s = learner.sigma
    u = np.array(
        [0.5 * (expected_payoff(s, o) - expected_payoff(o, s)) for o in pool]
    )  # seat-averaged payoff
    p_win = np.clip((u + 2.0) / 4.0, 0.0, 1.0)
    w = (1.0 - p_win) ** 2 + 1e-9
    return pool[int(rng.choice(len(pool), p=w / w.sum()))]


def train_self_play(cfg: LeagueConfig, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """One learner against its current self; returns the final σ and (games, exploitability) along the way."""
    rng = np.random.default_rng(seed)
    agent = Learner("self-play", rng.normal(0, 1, N_INFOSETS))
    curve, games = [], 0
    while games + cfg.games_per_update <= cfg.total_games:
        reinforce_update(agent, agent.sigma.copy(), cfg.games_per_update, cfg.lr, rng)
        games += cfg.games_per_update
        if agent.updates % 10 == 0:
            curve.append((games, exploitability(agent.sigma)))
    return agent.sigma, curve


def train_league(cfg: LeagueConfig, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Main agent, main exploiter and league exploiter; returns the main agent's final σ and its curve."""
    rng = np.random.default_rng(seed)
    main = Learner("main", rng.normal(0, 1, N_INFOSETS))
    exploiter = Learner("main-exploiter", rng.normal(0, 1, N_INFOSETS))
    league_exp = Learner("league-exploiter", rng.normal(0, 1, N_INFOSETS))
    pool = [main.sigma.copy()]
    curve, games = [], 0
    while games + 3 * cfg.games_per_update <= cfg.total_games:
        r = rng.random()
        if r < 0.35:
            opp = main.sigma.copy()
        elif r < 0.85:
            opp = _pfsp(main, pool, rng)
        else:
            opp = exploiter.sigma.copy()
        reinforce_update(main, opp, cfg.games_per_update, cfg.lr, rng)
        reinforce_update(exploiter, main.sigma.copy(), cfg.games_per_update, cfg.lr, rng)
        reinforce_update(league_exp, _pfsp(league_exp, pool, rng), cfg.games_per_update, cfg.lr, rng)
        games += 3 * cfg.games_per_update
        if main.updates % cfg.snapshot_every == 0:
            pool += [main.sigma.copy(), exploiter.sigma.copy(), league_exp.sigma.copy()]
            if rng.random() < cfg.league_reset_p:
                league_exp.theta = rng.normal(0, 1, N_INFOSETS)
        if exploiter.updates % cfg.reset_every == 0:
            exploiter.theta = rng.normal(0, 1, N_INFOSETS)
        if main.updates % 10 == 0:
            curve.append((games, exploitability(main.sigma)))
    return main.sigma, curve
