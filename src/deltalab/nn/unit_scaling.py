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

The 1/√B of ∂W assumes the B per-sample terms ∂y_b x_bᵀ are uncorrelated. At init they are not:
they share a mean, the expected gradient (the labels correlate with the inputs; ReLU outputs have
mean 0.56), so ‖Σ_b‖² ≈ B·(1 + c²·B) with c² the per-entry squared mean over the variance, and
1/√B leaves ∂W at √(1 + c²B) (measured 2–3 at B = 256 on digits, 4–7 at B = 1024). The option
``crossover_batch=B₀`` uses instead

    ∂W = (∂yᵀ x) / √(B·(1 + B/B₀)),   ∂b likewise,

which is the paper's 1/√B for B ≪ B₀ and √B₀/B (a mean) for B ≫ B₀, so ∂W's RMS stays between
√(B₀c²) and 1 at every batch; it is unit for c² = 1/B₀ and under-scales truly uncorrelated
per-sample gradients (c = 0) by √(1 + B/B₀). The ``unit_scaling`` library moved ∂W's scale to
B^(-3/4) for the same reason (graphcore-research/unit-scaling PR #31, 2023) and back to B^(-1/2)
in 2024 (PR #51); no single power of B covers B = 16…1024 here (B^(-3/4) gives 0.44 at B = 64).

Departures from the paper:
1. The backward scales are the paper's "unconstrained" choice (separate forward / backward
   factors), so the weight gradients are the true gradients times a per-layer constant; fold it
   into the learning rate (the paper does the same).
2. Only the ops the claim needs (linear, ReLU, cross-entropy); the paper covers whole transformers.
3. ``crossover_batch`` (off by default): the ∂W rule above, an empirical departure.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deltalab.nn.shapes import check_shape


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


def grad_weight_scale(batch: int, crossover_batch: float | None = None) -> float:
    """The backward scale of ∂W and ∂b: 1/√B (the paper), or 1/√(B·(1 + B/B₀)) with B₀ = crossover_batch."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if crossover_batch is None:
        return 1.0 / math.sqrt(batch)
    if not crossover_batch > 0:
        raise ValueError(f"crossover_batch must be > 0, got {crossover_batch!r}")
    return 1.0 / math.sqrt(batch * (1.0 + batch / crossover_batch))


class _UnitScaledLinear(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, crossover_batch: float | None
    ) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.crossover_batch = bias is not None, crossover_batch
        y = F.linear(x, weight) / math.sqrt(weight.size(1))  # (B, out)
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor | None, None]:
        x, weight = ctx.saved_tensors  # (B, in), (out, in)
        scale = grad_weight_scale(grad.size(0), ctx.crossover_batch)
        grad_x = grad @ weight / math.sqrt(weight.size(0))  # (B, in)
        grad_w = grad.T @ x * scale  # (out, in)
        grad_b = grad.sum(0) * scale if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None


class UnitScaledLinear(nn.Linear):
    """``nn.Linear`` with N(0, 1) weights, zero bias, and unit-scaling factors (see module docstring).

    Input (B, in_features) → (B, out_features); same arguments as ``nn.Linear``, plus
    crossover_batch: B₀ of the ∂W / ∂b scale 1/√(B·(1 + B/B₀)); None (default) is the paper's 1/√B.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        crossover_batch: float | None = None,
    ) -> None:
        if crossover_batch is not None and not crossover_batch > 0:
            raise ValueError(f"crossover_batch must be > 0, got {crossover_batch!r}")
        self.crossover_batch = crossover_batch
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_shape(x, "x", ("B", self.in_features))
        return _UnitScaledLinear.apply(x, self.weight, self.bias, self.crossover_batch)


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
