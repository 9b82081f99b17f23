"""muon's resumable runs and its one-halving grid search (the claim's cost cut) change no result;
its replicated runs are the means of independent runs."""

import pytest
import torch
from torch import nn

from deltalab.data.seq import SeqBatch
from deltalab.experiments.optimizers_muon import (
    ReplicatedRun,
    TailLossRun,
    class_acc,
    class_loss,
    halving_grid_search,
    tail_loss_run,
)
from deltalab.train.seed import replicate_seeds

DATA = SeqBatch(torch.randn(200, 6, generator=torch.Generator().manual_seed(0)), torch.arange(200) % 3)


def build() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def adamw(lr: float):
    return lambda m: torch.optim.AdamW(m.parameters(), lr=lr)


def test_run_advanced_in_pieces_equals_one_run() -> None:
    whole = tail_loss_run(build, adamw(1e-2), DATA, class_loss, class_acc, 30, 16, seed=3)
    run = TailLossRun(build, adamw(1e-2), DATA, class_loss, 16, seed=3)
    other = TailLossRun(build, adamw(1e-1), DATA, class_loss, 16, seed=3)  # interleaved: no shared RNG
    run.advance(10)
    other.advance(10)
    run.advance(20)
    assert run.result(class_acc) == whole
    assert whole["tail"] == sum(whole["curve"][-6:]) / 6


def test_halving_keeps_the_best_at_the_checkpoint_and_finishes_them_unchanged() -> None:
    lrs = [1e-4, 1e-3, 1e-2, 1e-1]
    runs = {lr: TailLossRun(build, adamw(lr), DATA, class_loss, 16, seed=1) for lr in lrs}
    best, at_check, tails = halving_grid_search(runs, 30, 10, keep=2)
    assert len(tails) == 2 and set(tails) == set(sorted(lrs, key=at_check.get)[:2])
    assert best == min(tails, key=tails.get)
    for lr in lrs:
        assert len(runs[lr].curve) == (30 if lr in tails else 10)
        full = tail_loss_run(build, adamw(lr), DATA, class_loss, class_acc, 30, 16, seed=1)
        assert at_check[lr] == sum(full["curve"][5:10]) / 5
        if lr in tails:
            assert tails[lr] == full["tail"]


def test_replicated_run_is_the_mean_of_independently_seeded_runs() -> None:
    def make(seed: int) -> TailLossRun:
        return TailLossRun(build, adamw(1e-2), DATA, class_loss, 16, seed)

    single = ReplicatedRun(make, seed=3)
    single.advance(30)
    assert single.result(class_acc) == tail_loss_run(
        build, adamw(1e-2), DATA, class_loss, class_acc, 30, 16, 3
    )

    rep = ReplicatedRun(make, seed=3, replicates=3)
    rep.advance(10)
    rep.advance(20)
    seeds = replicate_seeds(3, 3)
    each = [tail_loss_run(build, adamw(1e-2), DATA, class_loss, class_acc, 30, 16, sd) for sd in seeds]
    assert len({r["tail"] for r in each}) == 3  # independent: different inits and batches
    got = rep.result(class_acc)
    for key in ("tail", "final", "acc"):
        assert got[key] == pytest.approx(sum(r[key] for r in each) / 3, rel=1e-12)
    assert got["curve"] == pytest.approx([sum(c) / 3 for c in zip(*(r["curve"] for r in each))], rel=1e-12)
    assert rep.mean_loss(20, 30) == pytest.approx(sum(sum(r["curve"][20:30]) / 10 for r in each) / 3)


def test_replicates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="replicates must be >= 1"):
        ReplicatedRun(lambda sd: TailLossRun(build, adamw(1e-2), DATA, class_loss, 16, sd), 0, replicates=0)
