"""Buffers, schedules and one tiny update of every agent (chapter P)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from deltalab.rl.alphazero import AlphaZeroConfig, losses_vs_minimax, search_player, train_alphazero
from deltalab.rl.bandit import run_epsilon_greedy
from deltalab.rl.buffers import GameBuffer, ReplayBuffer
from deltalab.rl.dqn import DQNConfig, train_dqn
from deltalab.rl.envs.random_walk import RandomWalk
from deltalab.rl.envs.tictactoe import TicTacToe
from deltalab.rl.estimators import exact_grad_sin, reparam_grads, score_function_grads
from deltalab.rl.league import LeagueConfig, train_league, train_self_play
from deltalab.rl.mcts import uniform_evaluate
from deltalab.rl.minimax import Solver
from deltalab.rl.q_learning import (
    QLearningConfig,
    greedy_policy,
    q_learning,
    success_probability,
    value_iteration,
)
from deltalab.rl.reinforce import ReinforceConfig, collect, per_episode_grads, train_reinforce
from deltalab.rl.schedules import exponential_schedule, inverse_schedule, linear_schedule
from deltalab.rl.td_gammon import TDGammonConfig, greedy_player, train_td_gammon
from deltalab.rl.td_lambda import sample_walks, td_lambda_tabular


def test_schedules():
    assert linear_schedule(1.0, 0.1, 10, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 10, 5) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 10, 50) == pytest.approx(0.1)
    assert exponential_schedule(1.0, 0.0, 10, 10) == pytest.approx(0.5)
    assert inverse_schedule(1.0, 20, scale=20) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="duration must be > 0, got 0"):
        linear_schedule(1.0, 0.0, 0, 1)


def test_replay_buffer_ring_and_sample():
    buf = ReplayBuffer(3, 2, seed=0)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(1)
    for i in range(5):
        buf.add(np.full(2, i), i, float(i), np.full(2, i + 1), i == 4)
    assert len(buf) == 3
    assert sorted(buf.actions.tolist()) == [2, 3, 4]  # oldest overwritten
    s, a, r, s2, d = buf.sample(16)
    assert s.shape == (16, 2) and set(a.tolist()) <= {2, 3, 4}
    np.testing.assert_array_equal(s2[:, 0], s[:, 0] + 1)
    np.testing.assert_array_equal(d, (a == 4).astype(np.float32))
    with pytest.raises(ValueError, match="capacity must be > 0, got 0"):
        ReplayBuffer(0, 2)
    gb = GameBuffer(4, 3, 2)
    gb.add(np.ones(3), np.array([0.5, 0.5]), 1.0)
    x, pi, z = gb.sample(2)
    assert x.shape == (2, 3) and pi.shape == (2, 2) and z.tolist() == [1.0, 1.0]


def test_bandit_greedy_vs_decaying():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(200, 10))
    greedy, _ = run_epsilon_greedy(means, 300, lambda t: 0.0, np.random.default_rng(1))
    decay, _ = run_epsilon_greedy(
        means, 300, lambda t: inverse_schedule(1.0, t, 20.0), np.random.default_rng(1)
    )
    assert decay.sum() < greedy.sum()
    with pytest.raises(ValueError, match=r"shape \(B, K\)"):
        run_epsilon_greedy(means[0], 10, lambda t: 0.1, rng)


def test_q_learning_and_value_iteration_frozenlake():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    p = env.unwrapped.P
    q_star = value_iteration(p, 16, 4, 0.9)
    assert success_probability(p, greedy_policy(q_star), 0, 100) == pytest.approx(1.0)
    q, _ = q_learning(env, QLearningConfig(episodes=300), seed=0)
    assert success_probability(p, greedy_policy(q), 0, 100) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        QLearningConfig(alpha=0.0)
    with pytest.raises(ValueError, match="alpha_end must be in"):
        QLearningConfig(alpha=0.1, alpha_end=0.2)


def test_td_lambda_random_walk_converges_to_true_values():
    env = RandomWalk(19)
    walks = sample_walks(env, 4, 300, seed=0)
    rms = td_lambda_tabular(walks, 19, 0.8, np.array([0.02]), env.true_values())
    assert rms[0, :, -1].mean() < 0.1  # started at 0.55 (all-zero values)
    assert env.true_values()[0] == pytest.approx(-0.9) and env.true_values()[-1] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="lam must be in"):
        td_lambda_tabular(walks, 19, 1.5, np.array([0.1]), env.true_values())


def test_estimators_unbiased():
    g = torch.Generator().manual_seed(0)
    f = lambda x: torch.sin(3 * x)
    exact = exact_grad_sin(0.3, 0.5, 3.0)
    for est in (score_function_grads, reparam_grads):
        vals = est(f, 0.3, 0.5, 100_000, g)
        assert abs(vals.mean().item() - exact) < 4 * vals.std().item() / 100_000**0.5
    with pytest.raises(ValueError, match="sigma must be > 0, got -1"):
        reparam_grads(f, 0.0, -1, 10, g)


def test_dqn_tiny_run():
    q, log = train_dqn(
        "CartPole-v1",
        DQNConfig(total_steps=600, learning_starts=100, eval_every=500, eval_episodes=1),
        seed=0,
    )
    assert len(log["eval_mean"]) == 1 and q(torch.zeros(1, 4)).shape == (1, 2)
    with pytest.raises(ValueError, match="batch_size"):
        DQNConfig(batch_size=0)


def test_dqn_evaluate_side_by_side_equals_one_by_one():
    from deltalab.rl.dqn import QNetwork, evaluate

    torch.manual_seed(0)
    q = QNetwork(4, 2, 8)
    batched = evaluate("CartPole-v1", q, 3, seed=5)
    for i in range(3):  # episode i is reset with seed 5 + i and played greedily
        env, ret, done = gym.make("CartPole-v1"), 0.0, False
        obs, _ = env.reset(seed=5 + i)
        while not done:
            with torch.no_grad():
                obs, r, terminated, truncated, _ = env.step(int(q(torch.as_tensor(obs)).argmax()))
            ret, done = ret + r, terminated or truncated
        assert batched[i] == ret
    with pytest.raises(ValueError, match="max_grad_norm"):
        DQNConfig(max_grad_norm=0.0)


def test_reinforce_tiny_run_and_gradients():
    policy, value, log = train_reinforce(
        "CartPole-v1", ReinforceConfig(updates=2, episodes_per_batch=2), seed=0
    )
    assert len(log["mean_return"]) == 2
    batch = collect([gym.make("CartPole-v1") for _ in range(3)], policy, 0.99, np.random.default_rng(0))
    g = per_episode_grads(policy, batch, value)
    assert g.shape == (3, sum(p.numel() for p in policy.parameters())) and torch.isfinite(g).all()


def test_reinforce_stops_on_the_mean_of_the_last_batches():
    cfg = ReinforceConfig(updates=6, episodes_per_batch=2, target_return=1.0, target_batches=3)
    _, _, log = train_reinforce("CartPole-v1", cfg, seed=0)
    assert len(log["mean_return"]) == 3  # every batch returns >= 1: the first full window stops it
    cfg = ReinforceConfig(updates=6, episodes_per_batch=2, target_return=1.0)
    assert len(train_reinforce("CartPole-v1", cfg, seed=0)[2]["mean_return"]) == 1
    with pytest.raises(ValueError, match="target_batches"):
        ReinforceConfig(target_batches=0)


def test_reinforce_anneals_after_solving():
    cfg = ReinforceConfig(
        updates=9, episodes_per_batch=2, target_return=1.0, target_batches=3, anneal_updates=2
    )
    _, _, log = train_reinforce("CartPole-v1", cfg, seed=0)
    assert log["solved_at"] == [3] and len(log["mean_return"]) == 5  # solved after 3, then 2 more
    with pytest.raises(ValueError, match="anneal"):
        ReinforceConfig(anneal_lr_factor=0.0)


class _TruncatingEnv(gym.Env):
    """Two steps of reward 1, then truncated (not terminated) at a fixed last observation."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, terminate: bool = False) -> None:
        self.t, self.terminate = 0, terminate

    def reset(self, seed=None, options=None):
        self.t = 0
        return np.zeros(4, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t == 2
        return np.full(4, 0.5, dtype=np.float32), 1.0, end and self.terminate, end and not self.terminate, {}


def test_collect_bootstraps_only_truncated_episodes():
    policy = torch.nn.Linear(4, 2)
    value = torch.nn.Linear(4, 1)
    with torch.no_grad():
        v_last = float(value(torch.full((1, 4), 0.5)).item())
    for terminate in (False, True):
        plain = collect([_TruncatingEnv(terminate)], policy, 0.9, np.random.default_rng(0))
        boot = collect([_TruncatingEnv(terminate)], policy, 0.9, np.random.default_rng(0), value)
        torch.testing.assert_close(plain.returns, torch.tensor([1.9, 1.0]))
        tail = 0.0 if terminate else 0.9 * v_last  # a real termination is never bootstrapped
        torch.testing.assert_close(
            boot.returns, torch.tensor([1.9 + 0.81 * v_last * (not terminate), 1.0 + tail])
        )
    with pytest.raises(ValueError, match="bootstrap_truncated needs baseline"):
        train_reinforce("CartPole-v1", ReinforceConfig(updates=1, baseline=False, bootstrap_truncated=True))


def test_td_gammon_tiny_run():
    from deltalab.rl.envs.dice_race import DiceRace

    game = DiceRace(goal=10)
    net = train_td_gammon(game, TDGammonConfig(games=5), seed=0)
    assert greedy_player(game, net)((0, 0, 4, 0), np.random.default_rng(0)) in (0, 1)
    with pytest.raises(ValueError, match="lam must be in"):
        TDGammonConfig(lam=2.0)


def test_alphazero_tiny_run_and_minimax_branches():
    g = TicTacToe()
    net, log = train_alphazero(
        g, AlphaZeroConfig(iterations=1, games_per_iter=2, n_simulations=4, train_steps=2), seed=0
    )
    assert len(log["policy_loss"]) == 1 and np.isfinite(log["value_loss"][0])
    solver = Solver(g)
    games, losses = losses_vs_minimax(g, lambda s: solver.optimal_actions(s)[0], solver, 1)
    assert games >= 1 and losses == 0  # perfect play never loses
    games, losses = losses_vs_minimax(g, search_player(g, uniform_evaluate(g), 2), solver, -1)
    assert losses > 0


def test_league_and_self_play_tiny():
    cfg = LeagueConfig(total_games=6000, games_per_update=200)
    s, curve = train_self_play(cfg, seed=0)
    m, curve2 = train_league(cfg, seed=0)
    assert s.shape == m.shape == (12,) and curve and curve2
    with pytest.raises(ValueError, match="lr must be > 0"):
        LeagueConfig(lr=0.0)


def test_rl_benchmarks_run_tiny():
    from deltalab.bench import BENCHMARKS
    from deltalab.bench.rl import alphazero_c4, alphazero_ttt, dqn_cartpole

    az = alphazero_ttt(iterations=1, games_per_iter=2, eval_simulations=2)
    assert az.unit == "s" and az.baseline is None and az.extra["iterations"] == 1
    c4 = alphazero_c4(budget_s=0.0, games_per_iter=2, n_simulations=2, eval_simulations=2)
    assert c4.unit == "s" and c4.baseline is None and c4.extra["iterations"] == 1
    assert c4.extra["games_x"] >= 1 and c4.extra["games_o"] >= 1 and 0 <= c4.extra["win_rate_o"] <= 1
    assert "alphazero-c4" in BENCHMARKS.names()
    dq = dqn_cartpole(total_steps=300)
    assert dq.candidate == 300.0 and dq.extra["reached"] == 0
