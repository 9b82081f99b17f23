"""ReZero: a residual connection whose branch starts switched off.

Bachlechner et al., "ReZero is All You Need: Fast Convergence at Large Depth" (arXiv:2003.04887).

    x_{i+1} = x_i + α_i · F_i(x_i),   α_i a learned scalar initialized to 0

so every block is exactly the identity at initialization and the input–output Jacobian of any
stack of them is I. For the scalar toy x_{i+1} = x_i + α·w·x_i the Jacobian is (1 + αw)^L, which
explodes or vanishes with depth L unless α ≈ 0.

Shapes: B batch, D features.

Departures:
1. ``DeepFC`` builds the paper's fully connected comparison (vanilla, residual, residual +
   LayerNorm, ReZero) with F(x) = ReLU(Wx + b) and torch's default Linear init for all four; the
   LayerNorm variant is the paper's Post-Norm, x_{i+1} = LN(x_i + F(x_i)).
"""

from __future__ import annotations

import torch
from torch import nn

from deltalab.nn.shapes import check_shape

VARIANTS = ("vanilla", "residual", "residual-layernorm", "rezero")


class ReZero(nn.Module):
    """x + α·fn(x) around any sub-module ``fn`` whose output has the input's shape; α starts at ``alpha_init``."""

    def __init__(self, fn: nn.Module, alpha_init: float = 0.0) -> None:
        super().__init__()
        self.fn = fn
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.fn(x)
        if f.shape != x.shape:
            raise ValueError(f"ReZero's fn must keep the shape of x {tuple(x.shape)}, got {tuple(f.shape)}")
        return x + self.alpha * f


class _Block(nn.Module):
    """One layer of a ``DeepFC`` stack in one of the four ``VARIANTS``; F(x) = ReLU(Wx + b)."""

    def __init__(self, width: int, variant: str) -> None:
        super().__init__()
        self.variant = variant
        self.linear = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width) if variant == "residual-layernorm" else None
        self.alpha = nn.Parameter(torch.zeros(())) if variant == "rezero" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.relu(self.linear(x))
        if self.variant == "vanilla":
            return f
        if self.alpha is not None:
            return torch.addcmul(x, self.alpha, f)  # x + α·F(x) in one kernel
        out = x + f
        return self.norm(out) if self.norm is not None else out


class DeepFC(nn.Module):
    """Linear(in→width) → ``num_layers`` blocks of the chosen variant → Linear(width→out).

    (B, in_features) → (B, out_features).
    """

    def __init__(
        self, in_features: int, width: int, num_layers: int, out_features: int, variant: str = "rezero"
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if num_layers < 1 or width < 1:
            raise ValueError(f"num_layers and width must be >= 1, got num_layers={num_layers}, width={width}")
        self.embed = nn.Linear(in_features, width)
        self.blocks = nn.Sequential(*[_Block(width, variant) for _ in range(num_layers)])
        self.head = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x.flatten(1), "x flattened", ("B", self.embed.in_features))
        return self.head(self.blocks(self.embed(x.flatten(1))))


def toy_jacobian(alpha: float, w: float, depth: int) -> float:
    """dx_L/dx_0 = (1 + α·w)^L of the scalar residual stack x_{i+1} = x_i + α·w·x_i."""
    return (1.0 + alpha * w) ** depth
