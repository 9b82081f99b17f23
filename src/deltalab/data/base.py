"""The data registry and the split every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deltalab.registry import Registry

DATASETS: Registry = Registry("data set", package="deltalab.data")


@dataclass
class Split:
    """Train and test tensors of one data set (validation, where needed, is carved from train).

    x_train: (N, *feature_shape) float32; y_train: (N,) int64 class labels (or float targets).
    num_classes: number of classes (0 for regression).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    name: str = ""

    @property
    def in_features(self) -> int:
        return int(self.x_train[0].numel())

    def to(self, device: str | torch.device) -> Split:
        return Split(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.num_classes,
            self.name,
        )

    def subset(self, n_train: int, seed: int = 0) -> Split:
        """The first ``n_train`` training examples after a seeded shuffle (test set unchanged)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.x_train), generator=g)[:n_train]
        return Split(
            self.x_train[idx], self.y_train[idx], self.x_test, self.y_test, self.num_classes, self.name
        )

    def validation(
        self, fraction: float = 0.2, seed: int = 0
    ) -> tuple[Split, tuple[torch.Tensor, torch.Tensor]]:
        """Carve a validation set from train: (split with the rest as train, (x_val, y_val))."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.x_train), generator=g)
        n_val = int(round(fraction * len(idx)))
        v, t = idx[:n_val], idx[n_val:]
        rest = Split(self.x_train[t], self.y_train[t], self.x_test, self.y_test, self.num_classes, self.name)
        return rest, (self.x_train[v], self.y_train[v])


def load(name: str, **kwargs: object) -> Split:
    """Load a registered data set by name (unknown names suggest close matches)."""
    return DATASETS.create(name, **kwargs)
