"""LeCun's scaled hyperbolic tangent, f(x) = 1.7159 · tanh(2x/3).

LeCun, Bottou, Orr, Müller, "Efficient BackProp" (1998, in Neural Networks: Tricks of the Trade).
The constants make f(±1) = ±1, so with unit-variance inputs the outputs have roughly unit
variance, and the second derivative is largest at x = ±1 — away from saturation. Paired with
fan-in initialization (``deltalab.nn.init``) it keeps deep tanh nets out of saturation.

    f(x)  = A · tanh(S x),              A = 1.7159, S = 2/3
    f'(x) = A · S · (1 − tanh²(S x))

Departures: none. Shapes: elementwise, any shape in and out.
"""

from __future__ import annotations

import torch
from torch import nn

LECUN_A = 1.7159
LECUN_S = 2.0 / 3.0


def lecun_tanh(x: torch.Tensor) -> torch.Tensor:
    """1.7159 · tanh(2x/3), elementwise."""
    return LECUN_A * torch.tanh(LECUN_S * x)


def lecun_tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    """f'(x) = 1.7159 · 2/3 · (1 − tanh²(2x/3)), elementwise (max ≈ 1.144 at x = 0)."""
    t = torch.tanh(LECUN_S * x)
    return LECUN_A * LECUN_S * (1 - t * t)


class LeCunTanh(nn.Module):
    """The module form of :func:`lecun_tanh`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lecun_tanh(x)
