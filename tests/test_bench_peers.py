"""Peer benchmarks: skipped with a clear line without stable-baselines3; the protocol's helpers; a tiny
smoke run (slow, and only where the `peers` extra is installed). No timing or return assertions."""

from __future__ import annotations

import pytest

from deltalab.bench import peers
from deltalab.bench.core import BENCHMARKS


def test_registered_and_seeded() -> None:
    assert "dqn-vs-sb3" in BENCHMARKS.names() and BENCHMARKS.get("dqn-vs-sb3").seeded


def test_skipped_without_sb3(monkeypatch) -> None:
    monkeypatch.setattr(peers, "sb3_available", lambda: False)
    res = BENCHMARKS.get("dqn-vs-sb3")(seeds=3)
    assert res.skipped and "stable-baselines3" in res.skipped and res.meets_goal is None
    assert res.name == "dqn-vs-sb3" and res.missed() == []


def test_first_reaching_and_eval_seed() -> None:
    assert peers.first_reaching([1000, 2000, 3000], [100.0, 480.0, 300.0], 475, 5000) == (2000, True)
    assert peers.first_reaching([1000], [474.9], 475, 5000) == (5000, False)
    assert peers.first_reaching([], [], 475, 5000) == (5000, False)
    assert peers.eval_seed(2, 3) == 13_002


def test_zoo_hyperparameters_are_the_published_ones() -> None:
    hp = peers.SB3_ZOO_CARTPOLE
    assert hp["learning_rate"] == 2.3e-3 and hp["train_freq"] == 256 and hp["gradient_steps"] == 128
    assert hp["policy_kwargs"] == {"net_arch": [256, 256]} and peers.BUDGET == 50_000


@pytest.mark.slow
def test_dqn_vs_sb3_tiny() -> None:
    pytest.importorskip("stable_baselines3")
    res = peers.dqn_vs_sb3_at(0, total_steps=1500, eval_every=500, eval_episodes=2)
    assert res.skipped is None and res.baseline is not None
    # evaluations from learning_starts (1000) on: at 1000 and 1500 for both
    assert len(res.extra["deltalab_evals"]) == 2 and len(res.extra["sb3_evals"]) == 2
    assert set(res.checks) == {"every deltalab seed solves", "every deltalab seed >= 475 at the end"}
