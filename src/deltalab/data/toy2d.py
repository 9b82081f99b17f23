"""Two-dimensional toy sets: moons, circles, swiss roll (2-D) and the 8-Gaussian ring.

Moons and circles come from scikit-learn's generators; the ring is written here (8 Gaussians of
standard deviation ``std`` on a circle of radius ``radius``, the usual GAN mode-coverage test).
Class labels: the moon / circle / mode index (swiss roll: 0, it is unlabelled).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deltalab.data.base import DATASETS, Split


def ring_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """(modes, 2) centres evenly spaced on a circle."""
    a = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)
    return torch.stack([radius * torch.cos(a), radius * torch.sin(a)], dim=1)


def sample_ring(
    n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of the ring mixture and their mode labels."""
    labels = torch.randint(0, modes, (n,), generator=generator)
    x = ring_centers(modes, radius)[labels] + std * torch.randn(n, 2, generator=generator)
    return x, labels


def sample_toy2d(
    name: str, n: int, seed: int = 0, noise: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of ``moons``, ``circles``, ``swiss-roll`` or ``ring``: (x (n, 2) float32, labels (n,))."""
    from sklearn import datasets as skd

    if name == "moons":
        x, y = skd.make_moons(n, noise=0.1 if noise is None else noise, random_state=seed)
    elif name == "circles":
        x, y = skd.make_circles(n, noise=0.05 if noise is None else noise, factor=0.5, random_state=seed)
    elif name == "swiss-roll":
        x3, _ = skd.make_swiss_roll(n, noise=0.5 if noise is None else noise, random_state=seed)
        x, y = x3[:, [0, 2]] / 5.0, np.zeros(n, dtype=np.int64)
    elif name == "ring":
        return sample_ring(
            n, std=0.05 if noise is None else noise, generator=torch.Generator().manual_seed(seed)
        )
    else:
        raise ValueError(f"unknown toy2d set {name!r}; choose moons, circles, swiss-roll or ring")
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def _split(name: str, n_train: int, n_test: int, classes: int) -> Split:
    xt, yt = sample_toy2d(name, n_train, seed=0)
    xs, ys = sample_toy2d(name, n_test, seed=1)
    return Split(xt, yt, xs, ys, classes, name)


@DATASETS.register(name="moons")
def moons(n_train: int = 1000, n_test: int = 500) -> Split:
    return _split("moons", n_train, n_test, 2)


@DATASETS.register(name="circles")
def circles(n_train: int = 1000, n_test: int = 500) -> Split:
    return _split("circles", n_train, n_test, 2)


@DATASETS.register(name="swiss-roll")
def swiss_roll(n_train: int = 1000, n_test: int = 500) -> Split:
    return _split("swiss-roll", n_train, n_test, 0)


@DATASETS.register(name="ring")
def ring(n_train: int = 1000, n_test: int = 500) -> Split:
    return _split("ring", n_train, n_test, 8)
