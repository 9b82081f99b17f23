"""Game rules and facts, minimax, MCTS and AlphaZero pieces (chapter P)."""

import numpy as np
import pytest

from deltalab.rl.alphazero import losses_vs_minimax
from deltalab.rl.envs.connect4 import ConnectFour, ConnectFourEnv
from deltalab.rl.envs.dice_race import DiceRace, DiceRaceEnv
from deltalab.rl.envs.kuhn_poker import (
    GAME_VALUE,
    KuhnPokerEnv,
    expected_payoff,
    exploitability,
    nash_strategy,
    play_batch,
)
from deltalab.rl.envs.tictactoe import TicTacToe, TicTacToeEnv, reachable_states
from deltalab.rl.mcts import puct_search, uct_search, uniform_evaluate
from deltalab.rl.minimax import (
    Counter,
    Solver,
    alphabeta,
    alphabeta_moves,
    alphabeta_player,
    alphabeta_policy,
    games_over_tiebreaks,
    line_heuristic,
    minimax,
)

X, O = 1, -1


def test_tictactoe_facts():
    g = TicTacToe()
    assert len(reachable_states(g)) == 5478
    assert Solver(g).value(g.initial_state()) == 0


def test_tictactoe_env_masks_and_rewards():
    env = TicTacToeEnv()
    obs, info = env.reset(seed=0)
    assert info["action_mask"].sum() == 9 and obs.shape == (9,)
    for a in (0, 3, 1, 4):
        _, r, done, _, info = env.step(a)
        assert r == 0 and not done
    assert info["action_mask"][[0, 1, 3, 4]].sum() == 0
    with pytest.raises(ValueError, match="illegal action 0"):
        env.step(0)
    _, r, done, _, _ = env.step(2)  # X completes the top row
    assert r == 1.0 and done


def test_alphabeta_matches_minimax_with_fewer_nodes():
    g = TicTacToe()
    rng = np.random.default_rng(0)
    states = sorted(reachable_states(g))
    for i in rng.choice(len(states), 40, replace=False):
        s = states[i]
        c1, c2 = Counter(), Counter()
        assert minimax(g, s, c1) == alphabeta(g, s, counter=c2) == Solver(g).value(s)
        assert c2.nodes <= c1.nodes


def test_connect4_rules():
    g = ConnectFour(rows=4, cols=5)
    s = g.initial_state()
    for a in (0, 1, 0, 1, 0, 1):
        s = g.next_state(s, a)
    assert g.winner(s) == 0
    s = g.next_state(s, 0)
    assert g.winner(s) == X and g.is_terminal(s)
    with pytest.raises(ValueError, match="k must be"):
        ConnectFour(rows=4, cols=5, k=7)
    env = ConnectFourEnv()
    _, info = env.reset()
    assert info["action_mask"].tolist() == [1] * 5


def test_depth_limited_alphabeta_plays_legal_moves():
    g = ConnectFour()
    act = alphabeta_policy(g, depth=2, rng=np.random.default_rng(0))
    s = g.initial_state()
    while not g.is_terminal(s):
        a = act(s)
        assert a in g.legal_actions(s)
        s = g.next_state(s, a)


def _c4(moves: list[int]) -> tuple[int, ...]:
    g = ConnectFour()
    s = g.initial_state()
    for a in moves:
        s = g.next_state(s, a)
    return s


def test_alphabeta_player_takes_a_win_and_blocks_a_loss():
    g = ConnectFour()
    win = _c4([0, 4, 1, 4, 2, 4])  # X to move: 3 completes the bottom row (4 only blocks O's column)
    block = _c4([0, 4, 1, 4, 2])  # O to move: X threatens the bottom row at 3
    for depth in (2, 3):
        assert alphabeta_moves(g, win, depth) == [3]
        assert alphabeta_moves(g, block, depth) == [3]
        for rng in (None, np.random.default_rng(0)):
            assert alphabeta_player(g, depth, rng=rng)(win) == 3
            assert alphabeta_player(g, depth, rng=rng)(block) == 3
    with pytest.raises(ValueError, match="depth must be >= 1"):
        alphabeta_moves(g, win, 0)


def test_alphabeta_moves_match_exhaustive_minimax_past_the_horizon():
    g = TicTacToe()
    solver = Solver(g)

    def never(game, state):
        raise AssertionError("the horizon is past the end of the game")

    rng = np.random.default_rng(0)
    states = [s for s in sorted(reachable_states(g)) if not g.is_terminal(s) and sum(map(abs, s)) >= 3]
    for i in rng.choice(len(states), 40, replace=False):
        s = states[i]
        assert alphabeta_moves(g, s, depth=9, heuristic=never) == solver.optimal_actions(s)


def test_alphabeta_player_tie_breaks():
    g = ConnectFour()
    mirror = g.initial_state()  # a symmetric position: mirror-image moves tie
    ties = alphabeta_moves(g, mirror, 2)
    assert ties == [1, 3]
    assert alphabeta_player(g, 2)(mirror) == ties[0]
    picks = {alphabeta_player(g, 2, rng=np.random.default_rng(seed))(mirror) for seed in range(20)}
    assert picks == set(ties)
    # the alphago claim's player is this one with line_heuristic, draw for draw
    for seed in range(5):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        assert alphabeta_policy(g, 2, a)(mirror) == alphabeta_player(g, 2, line_heuristic, b)(mirror)


def test_games_over_tiebreaks_counts_every_branch():
    g = TicTacToe()
    solver = Solver(g)

    def first(state):
        return g.legal_actions(state)[0]

    for side in (X, O):
        games, wins, losses = games_over_tiebreaks(g, first, solver.optimal_actions, side)
        assert (games, losses) == losses_vs_minimax(g, first, solver, side)
        assert wins == 0  # nobody beats minimax
    c4 = ConnectFour()
    games, wins, losses = games_over_tiebreaks(
        c4, alphabeta_player(c4, 2), lambda s: alphabeta_moves(c4, s, 2), X
    )
    assert games >= 1 and wins + losses <= games


def _board(rows: str) -> tuple[int, ...]:
    return tuple({"X": X, "O": O, ".": 0}[c] for c in rows)


@pytest.mark.parametrize("search", ["uct", "puct"])
def test_mcts_finds_win_and_block(search):
    g = TicTacToe()
    rng = np.random.default_rng(0)
    win = _board("XX.OO....")  # X to move: 2 wins
    block = _board("XX.O.....")  # O to move: must block at 2
    for s in (win, block):
        if search == "uct":
            counts = uct_search(g, s, 400, rng)
        else:
            counts = puct_search(g, s, uniform_evaluate(g), 400)
        assert int(np.argmax(counts)) == 2


def test_search_rejects_bad_budget():
    g = TicTacToe()
    with pytest.raises(ValueError, match="n_simulations must be > 0, got 0"):
        uct_search(g, g.initial_state(), 0, np.random.default_rng(0))


def test_kuhn_exploitability_and_value():
    for alpha in (0.0, 0.2, 1 / 3):
        s = nash_strategy(alpha)
        assert exploitability(s) == pytest.approx(0.0, abs=1e-12)
        assert expected_payoff(s, s) == pytest.approx(GAME_VALUE)
    assert exploitability(np.full(12, 0.5)) > 0.1
    with pytest.raises(ValueError, match="shape"):
        exploitability(np.zeros(5))
    pay, _, _ = play_batch(nash_strategy(0.2), nash_strategy(0.2), 200_000, np.random.default_rng(0))
    assert pay.mean() == pytest.approx(GAME_VALUE, abs=0.01)


def test_kuhn_env_plays_to_the_end():
    env = KuhnPokerEnv()
    env.reset(seed=1)
    _, _, done, _, _ = env.step(0)
    assert not done
    _, r, done, _, _ = env.step(0)
    assert done and r in (-1.0, 1.0)


def test_dice_race_outcomes():
    g = DiceRace(goal=10)
    outs = g.outcomes((0, 0, 8, 0), 0)
    assert sum(p for p, _, _ in outs) == pytest.approx(1.0)
    assert sum(p for p, _, w in outs if w == 0) == pytest.approx(5 / 6)  # any roll ≥ 2 reaches 10
    assert g.outcomes((3, 0, 4, 0), 1)[0][1] == (7, 0, 0, 1)
    env = DiceRaceEnv(goal=10)
    _, info = env.reset(seed=0)
    assert info["action_mask"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="illegal action 1"):
        env.step(1)
