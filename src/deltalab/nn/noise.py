"""Gaussian noise injection: a layer that adds N(0, std²) noise in training mode only.

Training with noise on the inputs is equivalent, to first order, to Tikhonov regularization
(Bishop 1995, "Training with noise is equivalent to Tikhonov regularization", Neural Computation
7(1)); noise on hidden units is the additive cousin of dropout (Srivastava et al. 2014,
"Dropout: a simple way to prevent neural networks from overfitting", JMLR 15). Update rule:

    train:  y = x + std · ε,   ε ~ N(0, I)
    eval:   y = x

Departures: none; torch ships no such layer (``nn.Dropout`` is multiplicative Bernoulli noise),
so it is written here. Shapes: any (B, *) in, same shape out.
"""

from __future__ import annotations

import torch
from torch import nn


class GaussianNoise(nn.Module):
    """Add zero-mean Gaussian noise of standard deviation ``std`` while ``self.training``.

    std: noise standard deviation (>= 0; 0 makes the layer the identity).
    """

    def __init__(self, std: float = 0.1) -> None:
        super().__init__()
        if not std >= 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            raise ValueError(f"GaussianNoise expects a floating-point tensor, got dtype {x.dtype}")
        if not self.training or self.std == 0:
            return x
        return x + self.std * torch.randn_like(x)  # (B, *) same shape

    def extra_repr(self) -> str:
        return f"std={self.std}"
