"""Pig's exact solution (value iteration, policy evaluation) against brute force over the game's own rules."""

from __future__ import annotations

import numpy as np
import pytest

from deltalab.rl.envs.dice_race import (
    HOLD,
    ROLL,
    DiceRace,
    greedy_hold_policy,
    hold_at_policy,
    random_policy,
    solve_optimal,
    win_probability,
)
from deltalab.rl.td_gammon import (
    SelfPlayConfig,
    TDGammonConfig,
    ValueNet,
    action_values,
    encode_mover,
    train_self_play,
    train_td_gammon,
    value_table,
)


def _states(game: DiceRace) -> list[tuple[int, int, int, int]]:
    g = game.goal
    return [
        (s0, s1, k, p)
        for s0 in range(g)
        for s1 in range(g)
        for p in (0, 1)
        for k in range(g - (s0 if p == 0 else s1))
    ]


def _brute_force(game: DiceRace, choose) -> dict:
    """P(player 0 wins) at every state by plain iteration over ``game.outcomes``; ``choose(state,
    q)`` maps the action values (player 0's view) to the value the mover gets."""
    v = dict.fromkeys(_states(game), 0.5)
    for _ in range(5000):
        new = {}
        for s in v:
            q = {
                a: sum(p * (v[t] if w < 0 else float(w == 0)) for p, t, w in game.outcomes(s, a))
                for a in game.legal_actions(s)
            }
            new[s] = choose(s, q)
        change, v = max(abs(new[s] - v[s]) for s in v), new
        if change < 1e-13:
            return v
    raise AssertionError("brute force did not converge")


def _minimax(s, q):
    return max(q.values()) if s[3] == 0 else min(q.values())


def test_value_iteration_tiny_closed_form():
    # goal 2, two-sided die: a 2 wins at once, a 1 busts, so V = 1/2 + 1/2 (1 - V) = 2/3
    v, hold = solve_optimal(DiceRace(goal=2, die=2))
    assert v[0, 0, 0] == pytest.approx(2 / 3, abs=1e-9)
    assert v[1, 1, 0] == pytest.approx(2 / 3, abs=1e-9) and not hold.any()


@pytest.mark.parametrize(("goal", "die"), [(6, 2), (12, 3)])
def test_value_iteration_matches_brute_force_minimax(goal, die):
    game = DiceRace(goal=goal, die=die)
    v, hold = solve_optimal(game)
    ref = _brute_force(game, _minimax)
    for s0, s1, k, p in ref:
        mine, theirs = (s0, s1) if p == 0 else (s1, s0)
        mover = ref[(s0, s1, k, p)] if p == 0 else 1.0 - ref[(s0, s1, k, p)]
        assert v[mine, theirs, k] == pytest.approx(mover, abs=1e-8)
    assert hold.any()  # at these goals holding matters somewhere
    assert (greedy_hold_policy(game, v) == hold).all()  # the greedy policy of V* is optimal


def test_win_probability_matches_brute_force_and_is_consistent():
    game = DiceRace(goal=8, die=4)
    _, hold_opt = solve_optimal(game)
    rnd, h3 = random_policy(game), hold_at_policy(game, 3)

    def a_vs_random(s, q):  # A (hold at 3) is player 0, the random player is player 1
        if s[3] == 1:
            return float(np.mean(list(q.values())))
        return q[HOLD] if HOLD in q and s[2] >= 3 else q[ROLL]

    ref = _brute_force(game, a_vs_random)
    first, _ = win_probability(game, h3, rnd)
    assert first == pytest.approx(ref[(0, 0, 0, 0)], abs=1e-8)
    # seats are symmetric: A second against B first is 1 − (B first against A second)
    a_first, a_second = win_probability(game, hold_opt, h3)
    b_first, b_second = win_probability(game, h3, hold_opt)
    assert a_second == pytest.approx(1.0 - b_first, abs=1e-8) and a_first == pytest.approx(
        1.0 - b_second, abs=1e-8
    )
    # optimal play against itself scores exactly its value, and beats or ties any other policy
    v, _ = solve_optimal(game)
    assert win_probability(game, hold_opt, hold_opt)[0] == pytest.approx(v[0, 0, 0], abs=1e-8)
    assert np.mean(win_probability(game, hold_opt, h3)) >= 0.5


def test_win_probability_matches_sampled_games():
    game, rng = DiceRace(goal=10), np.random.default_rng(0)
    first, _ = win_probability(game, hold_at_policy(game, 4), random_policy(game))
    wins, n = 0, 4000
    for _ in range(n):
        s, w = game.initial_state(), -1
        while w < 0:
            if s[3] == 0:
                a = HOLD if s[2] >= 4 else ROLL
            else:
                a = int(rng.integers(2)) if s[2] > 0 else ROLL
            s, w = game.step(s, a, rng)
        wins += w == 0
    assert abs(wins / n - first) < 4 * np.sqrt(first * (1 - first) / n)


def test_value_table_policy_matches_the_greedy_player():
    game = DiceRace(goal=10)
    net = ValueNet(4, 8, np.random.default_rng(3))
    hold = greedy_hold_policy(game, value_table(game, net))
    for s0, s1, k, p in _states(game):
        if k == 0:
            continue
        q = action_values(game, net, (s0, s1, k, p))
        hold_greedy = (q[HOLD] > q[ROLL]) if p == 0 else (q[HOLD] < q[ROLL])
        mine, theirs = (s0, s1) if p == 0 else (s1, s0)
        if abs(q[HOLD] - q[ROLL]) > 1e-6:  # the table's hidden layer is float32
            assert bool(hold[mine, theirs, k]) == hold_greedy


def test_value_table_holds_the_nets_values():
    game = DiceRace(goal=10)
    net = ValueNet(4, 8, np.random.default_rng(3))
    table = value_table(game, net)
    for mine, theirs, k, _ in (s for s in _states(game) if s[3] == 0):
        assert table[mine, theirs, k] == pytest.approx(
            net(encode_mover(game, (mine, theirs, k, 0))[None])[0], abs=1e-6
        )
    mine, _, turn = np.meshgrid(*(np.arange(game.goal),) * 3, indexing="ij")
    assert (table[mine + turn >= game.goal] == 0).all()


def test_train_calls_back_before_and_after_every_game():
    seen = []
    train_td_gammon(DiceRace(goal=10), TDGammonConfig(games=3), seed=0, on_game=lambda n, net: seen.append(n))
    assert seen == [0, 1, 2, 3]


def test_batched_values_and_grads_match_single_example():
    net = ValueNet(4, 8, np.random.default_rng(1))
    x = np.random.default_rng(2).random((5, 4))
    v, grads = net.values_and_grads(x)
    for b in range(5):
        v1, g1 = net.value_and_grad(x[b])
        assert v[b] == pytest.approx(v1, abs=1e-12)
        for gb, gs in zip(grads, g1):
            np.testing.assert_allclose(gb[b], gs, atol=1e-12)


def test_batched_self_play_calls_back_every_step_and_learns_to_hold():
    game = DiceRace(goal=40, die=6)
    seen = []
    cfg = SelfPlayConfig(steps=1500, batch=64)
    net = train_self_play(game, cfg, seed=0, on_step=lambda n, games, net: seen.append((n, games)))
    assert [n for n, _ in seen] == list(range(cfg.steps + 1))
    assert all(a <= b for (_, a), (_, b) in zip(seen, seen[1:])) and seen[-1][1] > 0
    # at goal 40 "always roll" wins 71.7% against random and optimal play 77.0%: the net must hold somewhere
    _, hold_opt = solve_optimal(game)
    rnd = random_policy(game)
    net_rate = np.mean(win_probability(game, greedy_hold_policy(game, value_table(game, net)), rnd))
    roll_rate = np.mean(win_probability(game, np.zeros_like(hold_opt), rnd))
    assert net_rate > roll_rate
