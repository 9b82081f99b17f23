"""AlphaGo pipeline on small connect-four: the issue-18 regression tests (a side to move that wins in
one must take the win; every value is for the player to move)."""

import numpy as np
import pytest
import torch
from torch import nn

from deltalab.rl.alphago import (
    AlphaGoConfig,
    _masked_logits,
    _mirror_obs,
    features,
    guided_evaluator,
    mirror_perm,
    train_alphago,
    value_dataset,
)
from deltalab.rl.envs.connect4 import ConnectFour
from deltalab.rl.mcts import puct_search
from deltalab.rl.minimax import alphabeta_policy

GAME = ConnectFour(rows=4, cols=5, k=4)
torch.set_num_threads(1)  # tiny nets: more threads only contend on a loaded machine


def _play(moves):
    s = GAME.initial_state()
    for a in moves:
        s = GAME.next_state(s, a)
    return s


# X holds columns 0-2 of the bottom row and O holds column 4 up to three: X to move wins at 3,
# and blocking at 4 (O's own threat) is the tempting wrong move the old policy made.
WIN_IN_ONE = _play([0, 4, 1, 4, 2, 4])
WINNING_MOVE = 3


def test_win_in_one_position_is_what_it_claims():
    assert GAME.to_play(WIN_IN_ONE) == 1
    wins = [a for a in GAME.legal_actions(WIN_IN_ONE) if GAME.winner(GAME.next_state(WIN_IN_ONE, a)) == 1]
    assert wins == [WINNING_MOVE]


def test_expert_takes_the_win():
    for seed in range(5):
        assert alphabeta_policy(GAME, 2, np.random.default_rng(seed))(WIN_IN_ONE) == WINNING_MOVE


@pytest.fixture(scope="module")
def nets():
    cfg = AlphaGoConfig(expert_games=60, random_games=100, value_games=600)
    return cfg, train_alphago(GAME, cfg, seed=0)


def test_features_flag_wins_and_blocks():
    f = features(GAME, WIN_IN_ONE)
    win, block = (
        f[2 * GAME.n_cells : 2 * GAME.n_cells + GAME.n_actions],
        f[2 * GAME.n_cells + GAME.n_actions :],
    )
    np.testing.assert_array_equal(win, [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(block, [0, 0, 0, 0, 1])
    # the same flags after a reflection: the features commute with the mirror
    mirrored = tuple(WIN_IN_ONE[i] for i in mirror_perm(GAME))
    np.testing.assert_array_equal(_mirror_obs(GAME, f[None])[0], features(GAME, mirrored))


def test_trained_policy_value_and_guided_search_take_the_win(nets):
    cfg, (policy, rollout, value, stats) = nets
    x = torch.as_tensor(features(GAME, WIN_IN_ONE))[None]
    m = torch.as_tensor(GAME.action_mask(WIN_IN_ONE), dtype=torch.bool)[None]
    with torch.no_grad():
        assert int(_masked_logits(policy, x, m).argmax()) == WINNING_MOVE
        assert -1.0 <= float(torch.tanh(value(x))) <= 1.0
    evaluate = guided_evaluator(GAME, policy, rollout, value, cfg.lam, np.random.default_rng(0))
    assert int(np.argmax(puct_search(GAME, WIN_IN_ONE, evaluate, 40))) == WINNING_MOVE
    assert 0.0 <= stats["policy_train_acc"] <= 1.0


def test_value_targets_are_for_the_player_to_move():
    """A policy that always plays the leftmost legal column: X fills column 0 first, so after one random
    move the game is decided by a fixed rule; z must match the winner seen from the mover's side."""

    class Leftmost(nn.Module):
        def forward(self, x):
            return torch.tensor([100.0, 80.0, 60.0, 40.0, 20.0]).expand(len(x), 5)

    cfg = AlphaGoConfig(value_games=200)
    x, z = value_dataset(GAME, Leftmost(), cfg, np.random.default_rng(0))
    assert len(x) == len(z) > 0 and set(np.unique(z)) <= {-1.0, 0.0, 1.0}
    # replay from each sampled position with the same deterministic policy and check z's sign
    for xi, zi in zip(x, z):
        own, opp = xi[: GAME.n_cells], xi[GAME.n_cells : 2 * GAME.n_cells]
        mover = 1 if own.sum() == opp.sum() else -1  # X moves when the counts are equal
        s = tuple(int(v) for v in (own - opp) * mover)
        while not GAME.is_terminal(s):
            s = GAME.next_state(s, GAME.legal_actions(s)[0])
        assert zi == GAME.winner(s) * mover


def test_puct_value_sign_convention():
    """PUCT expects the leaf value for the player to move there. An evaluator that says +1 to a mover
    who can win now and 0 otherwise (uniform priors) makes the search block nothing and take the win."""

    def evaluate(s):
        can_win = any(GAME.winner(GAME.next_state(s, a)) != 0 for a in GAME.legal_actions(s))
        return np.full(GAME.n_actions, 1.0 / GAME.n_actions), 1.0 if can_win else 0.0

    counts = puct_search(GAME, WIN_IN_ONE, evaluate, 40)
    assert int(np.argmax(counts)) == WINNING_MOVE
    # every non-winning move leaves O a win in one: valued +1 for O, so X's Q there is −1
    assert counts[WINNING_MOVE] > counts.sum() / 2


def test_mirror_maps_positions_and_moves():
    perm = mirror_perm(GAME)
    assert sorted(perm) == list(range(GAME.n_cells)) and perm[0] == GAME.cols - 1
    s = _play([0, 1])
    mirrored = _play([GAME.cols - 1, GAME.cols - 2])
    np.testing.assert_array_equal(_mirror_obs(GAME, features(GAME, s)[None])[0], features(GAME, mirrored))
