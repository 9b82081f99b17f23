"""MNIST-1D benchmarks run at tiny sizes (no accuracy or timing assertion), and the shift augmentation."""

from __future__ import annotations

import math

import torch

from deltalab.bench.core import BENCHMARKS
from deltalab.bench.mnist1d import Recipe, random_shift, train_mnist1d


def test_registered_and_seeded() -> None:
    for name in ("mnist1d-cnn", "mnist1d-gru"):
        assert name in BENCHMARKS.names() and BENCHMARKS.get(name).seeded


def test_random_shift_moves_rows_and_repeats_edges() -> None:
    x = torch.arange(10.0).repeat(64, 1)
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    shifts = set()
    for row in out:
        s = int(x[0, 5] - row[5])  # out[t] = x[t - s]
        shifts.add(s)
        want = x[0, (torch.arange(10) - s).clamp(0, 9)]
        assert torch.equal(row, want)
    assert shifts == {-2, -1, 0, 1, 2}
    assert random_shift(x, 0, torch.Generator()) is x


def test_train_tiny() -> None:
    for model, width in (("mnist1d-cnn", 4), ("mnist1d-gru", 2)):
        r = train_mnist1d(Recipe(model, width=width, steps=3, batch_size=16), seed=0)
        assert 0.0 <= r["accuracy"] <= 1.0 and math.isfinite(r["seconds"]) and r["wall_s"] >= 0
