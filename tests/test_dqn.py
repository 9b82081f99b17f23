"""DQN stabilizers: the learning-rate schedule, Polyak target updates and their validation."""

from __future__ import annotations

import pytest
import torch

from deltalab.rl.dqn import DQNConfig, learning_rate_at, train_dqn


def test_learning_rate_constant_without_lr_end():
    cfg = DQNConfig(lr=1e-3, lr_end=None, total_steps=100)
    assert [learning_rate_at(cfg, t) for t in (0, 50, 100, 200)] == [1e-3] * 4


def test_learning_rate_decays_linearly_to_floor():
    cfg = DQNConfig(lr=1e-3, lr_end=1e-5, total_steps=100)
    assert learning_rate_at(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate_at(cfg, 50) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert learning_rate_at(cfg, 100) == pytest.approx(1e-5)
    assert learning_rate_at(cfg, 1000) == pytest.approx(1e-5)  # the floor, past the budget


@pytest.mark.parametrize(
    "bad", [{"tau": 0.0}, {"tau": 1.5}, {"n_step": 0}, {"lr_end": -1.0}, {"lr": 1e-3, "lr_end": 2e-3}]
)
def test_config_rejects_bad_stabilizers(bad):
    with pytest.raises(ValueError):
        DQNConfig(**bad)


@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_tiny_run_with_polyak_and_decay(tau):
    torch.manual_seed(0)
    cfg = DQNConfig(
        total_steps=400,
        learning_starts=100,
        train_every=50,
        gradient_steps=2,
        eval_every=200,
        eval_episodes=1,
        tau=tau,
        lr_end=1e-5,
        hidden_dim=16,
        buffer_size=1000,
    )
    q, log = train_dqn("CartPole-v1", cfg, seed=0)
    assert log["eval_step"] == [200, 400]
    assert all(torch.isfinite(p).all() for p in q.parameters())


def test_nstep_transition_discounts_rewards():
    import numpy as np

    from deltalab.rl.dqn import nstep_transition

    s0, s1, s3 = np.zeros(2), np.ones(2), np.full(2, 3.0)
    window = [(s0, 1, 1.0), (s1, 0, 2.0), (s1, 1, 4.0)]
    s, a, ret, s_next = nstep_transition(window, s3, gamma=0.5)
    assert s is s0 and a == 1 and s_next is s3
    assert ret == 1.0 + 0.5 * 2.0 + 0.25 * 4.0


def test_tiny_run_nstep():
    cfg = DQNConfig(
        total_steps=300,
        learning_starts=100,
        train_every=50,
        gradient_steps=2,
        eval_every=300,
        eval_episodes=1,
        n_step=3,
        hidden_dim=16,
        buffer_size=1000,
    )
    _, log = train_dqn("CartPole-v1", cfg, seed=0)
    assert log["eval_step"] == [300]
