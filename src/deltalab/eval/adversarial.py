"""Adversarial examples by the sign of the input gradient, for any differentiable classifier.

Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples" (arXiv:1412.6572);
the iterated form (BIM / I-FGSM): Kurakin, Goodfellow & Bengio, "Adversarial examples in the
physical world" (arXiv:1607.02533).

    FGSM:  x' = clip_[lo, hi](x + ε·sign(∇_x L(f(x), y)))
    I-FGSM: x_{t+1} = clip_[lo, hi](clip_{x ± ε}(x_t + α·sign(∇_x L(f(x_t), y)))), T steps

Shapes: B batch, inputs (B, *) of any shape.

Departures: none; ``clamp=None`` skips the pixel-range clip (for inputs with no natural range).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.eval.metrics import accuracy

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_eps(eps: float) -> None:
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Loss = F.cross_entropy
) -> torch.Tensor:
    """∇_x L(model(x), y), with the model's parameters left without gradients."""
    x = x.detach().clone().requires_grad_(True)
    loss = loss_fn(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    loss_fn: Loss = F.cross_entropy,
    clamp: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` (L∞ ball), clipped to ``clamp``."""
    _check_eps(eps)
    x_adv = x + eps * input_gradient(model, x, y, loss_fn).sign()
    return x_adv.clamp(*clamp).detach() if clamp is not None else x_adv.detach()


def iterative_fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    loss_fn: Loss = F.cross_entropy,
    clamp: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """``steps`` FGSM steps of ``step_size`` (default 2.5·eps/steps), projected to x ± eps after each."""
    _check_eps(eps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    alpha = 2.5 * eps / steps if step_size is None else step_size
    x_adv = x.detach().clone()
    for _ in range(steps):
        x_adv = x_adv + alpha * input_gradient(model, x_adv, y, loss_fn).sign()
        x_adv = torch.max(torch.min(x_adv, x + eps), x - eps)
        if clamp is not None:
            x_adv = x_adv.clamp(*clamp)
    return x_adv.detach()


def accuracy_under_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_values: Sequence[float],
    attack: Callable[..., torch.Tensor] = fgsm,
    **attack_kw: object,
) -> list[float]:
    """Accuracy on ``attack(model, x, y, eps)`` for each ε (the model is put in eval mode and restored)."""
    was_training = model.training
    model.eval()
    try:
        return [
            accuracy(model, attack(model, x, y, eps, **attack_kw) if eps > 0 else x, y) for eps in eps_values
        ]
    finally:
        model.train(was_training)
