"""The random-search experiment's fixed design: ≥ 5 repeats and k-fold CV (k ≥ 2) for selection."""

from deltalab.experiments.random_search import FOLDS, REPEATS, SPACE


def test_design_meets_the_claim():
    assert REPEATS >= 5 and FOLDS >= 2


def test_one_important_and_three_unimportant_hyperparameters():
    assert list(SPACE) == ["lr", "init_std", "weight_decay", "label_smoothing"]
    assert SPACE["lr"].log and SPACE["lr"].high / SPACE["lr"].low >= 1e3
