"""Weight penalties that shape the weight histogram: L1 by proximal steps, weight elimination.

- L1 (lasso; Tibshirani 1996). A (sub)gradient step on λ‖w‖₁ makes weights oscillate around 0
  and never reach it; the proximal (soft-threshold) step after each gradient step does:

      w ← sign(w) · max(|w| − lr·λ, 0)

  so every weight moves toward 0 at the constant rate lr·λ and lands on exactly 0. (Proximal
  gradient / ISTA: Beck & Teboulle 2009, "A Fast Iterative Shrinkage-Thresholding Algorithm".)
- L2 is plain weight decay (``torch.optim`` ``weight_decay``): w ← (1 − lr·λ) w, shrinking in
  proportion to w, so nothing becomes exactly 0.
- Weight elimination (Weigend, Rumelhart, Huberman 1991, "Generalization by weight-elimination
  with application to forecasting", NIPS 3):

      Ω(w) = Σ (w/w₀)² / (1 + (w/w₀)²)

  ≈ L2 for |w| ≪ w₀ (small weights are pushed to 0) and saturates at 1 for |w| ≫ w₀ (large
  weights are spared): a bimodal histogram.

Departures: none. Biases are usually excluded — pass only the weights you want penalized.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def penalized_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices/kernels of ``model`` (params with ≥ 2 dims; biases and norms excluded)."""
    return [p for p in model.parameters() if p.dim() >= 2]


@torch.no_grad()
def l1_prox_(params: Iterable[torch.Tensor], threshold: float) -> None:
    """In place soft-thresholding ``w ← sign(w)·max(|w| − threshold, 0)``; threshold = lr·λ."""
    if not threshold >= 0:
        raise ValueError(f"threshold (lr * lambda) must be >= 0, got {threshold}")
    for p in params:
        p.copy_(torch.sign(p) * (p.abs() - threshold).clamp_min(0))


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Σ |w| (for reporting; use :func:`l1_prox_` to optimize it)."""
    return sum((p.abs().sum() for p in params), torch.tensor(0.0))


def weight_elimination(params: Iterable[torch.Tensor], w0: float) -> torch.Tensor:
    """Σ (w/w₀)² / (1 + (w/w₀)²), differentiable; add λ times it to the loss."""
    if not w0 > 0:
        raise ValueError(f"w0 must be > 0, got {w0}")
    total = torch.tensor(0.0)
    for p in params:
        r = (p / w0) ** 2
        total = total + (r / (1 + r)).sum()
    return total


def exact_zero_fraction(params: Iterable[torch.Tensor]) -> float:
    """Fraction of entries that are exactly 0.0."""
    zeros, total = 0, 0
    for p in params:
        zeros += int((p == 0).sum())
        total += p.numel()
    return zeros / max(total, 1)
