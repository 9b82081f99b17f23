"""dropout's and noise-injection's train/test accuracies average independently drawn subsets."""

import pytest

from deltalab.experiments import noise_regularization as nr
from deltalab.lab.experiment import Context
from deltalab.train.seed import replicate_seeds


def test_train_gap_is_the_mean_over_replicates_each_with_its_own_subset_and_init(monkeypatch) -> None:
    ctx = Context("dropout", seed=4, verbose=False)
    monkeypatch.setattr(nr, "REPLICATES", 1)
    singles = [
        nr.train_gap(nr._wide_mlp, 40, 2, Context("dropout", seed=sd, verbose=False))
        for sd in replicate_seeds(4, 2)
    ]
    assert singles[0] != singles[1]  # another subset and initialization
    monkeypatch.setattr(nr, "REPLICATES", 2)
    train, test = nr.train_gap(nr._wide_mlp, 40, 2, ctx)
    assert train == pytest.approx((singles[0][0] + singles[1][0]) / 2, abs=1e-12)
    assert test == pytest.approx((singles[0][1] + singles[1][1]) / 2, abs=1e-12)
