"""Unit scaling: N(0, 1) weights and per-op scale factors so that every tensor has RMS ≈ 1.

Blake, Orr & Luschi, "Unit Scaling: Out-of-the-Box Low-Precision Training" (arXiv:2303.11257).
For a matmul y = x Wᵀ with x (B, fan_in) and W (fan_out, fan_in), W ~ N(0, 1):

    forward      y      = (x Wᵀ)   / √fan_in
    backward     ∂x     = (∂y W)   / √fan_out
                 ∂W     = (∂yᵀ x)  / √B
                 ∂b     = Σ_B ∂y   / √B

Each factor undoes the growth of a sum of unit-variance terms, so weights, activations and
gradients all start at RMS ≈ 1 and fit a narrow float format (fp8 e4m3: normal range 2⁻⁶…448).
The ReLU is scaled by √2 (E[relu(z)²] = 1/2 for z ~ N(0, 1)) and the loss gradient by B·√C.

Departures from the paper:
1. The backward scales are the paper's "unconstrained" choice (separate forward / backward
   factors), so the weight gradients are the true gradients times a per-layer constant; fold it
   into the learning rate (the paper does the same).
2. Only the ops the claim needs (linear, ReLU, cross-entropy); the paper covers whole transformers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _ScaledGrad(torch.autograd.Function):
    """Identity forward; the gradient multiplied by ``scale`` on the way back."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


def scale_grad(x: Tensor, scale: float) -> Tensor:
    """``x`` unchanged, its gradient × ``scale``."""
    return _ScaledGrad.apply(x, scale)


class _UnitScaledLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = F.linear(x, weight) / math.sqrt(weight.size(1))  # (B, out)
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        x, weight = ctx.saved_tensors  # (B, in), (out, in)
        batch = math.sqrt(grad.size(0))
        grad_x = grad @ weight / math.sqrt(weight.size(0))  # (B, in)
        grad_w = grad.T @ x / batch  # (out, in)
        grad_b = grad.sum(0) / batch if ctx.has_bias else None
        return grad_x, grad_w, grad_b


class UnitScaledLinear(nn.Linear):
    """``nn.Linear`` with N(0, 1) weights, zero bias, and unit-scaling factors (see module docstring).

    Input (B, in_features) → (B, out_features); same arguments as ``nn.Linear``.
    """

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2:
            raise ValueError(f"UnitScaledLinear expects (B, {self.in_features}), got shape {tuple(x.shape)}")
        return _UnitScaledLinear.apply(x, self.weight, self.bias)


class UnitScaledReLU(nn.Module):
    """√2 · relu(x): keeps RMS 1 for N(0, 1) inputs, forward and backward."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x) * math.sqrt(2.0)


def unit_scaled_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy whose gradient w.r.t. the (B, C) logits is scaled by B·√C (RMS ≈ 1)."""
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, C), got shape {tuple(logits.shape)}")
    b, c = logits.shape
    return F.cross_entropy(scale_grad(logits, b * math.sqrt(c)), target)
