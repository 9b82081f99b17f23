"""signSGD and Signum: step along the sign of the gradient (or of its momentum).

Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for Non-Convex
Problems" (arXiv:1802.04434). With learning rate η, momentum β and decoupled weight decay λ:

    signSGD:  θ ← (1 − ηλ) θ − η sign(g)
    Signum:   m ← β m + (1 − β) g;   θ ← (1 − ηλ) θ − η sign(m)

sign(g) is the steepest-descent direction under the ℓ∞ norm (argmax of ⟨g, d⟩ over ‖d‖∞ ≤ 1), so
the step ignores the gradient's scale. torch ships neither, hence written here.

Departures from the paper:
1. Weight decay is decoupled (AdamW-style, ``weight_decay``) rather than added to the gradient, so
   that it is not swallowed by the sign.
2. sign(0) = 0 (torch.sign): a coordinate with a zero gradient does not move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from deltalab.optim.base import step_each
from deltalab.optim.registry import OPTIMIZERS


class Signum(torch.optim.Optimizer):
    """θ ← (1 − ηλ)θ − η·sign(m), m ← βm + (1 − β)g; ``momentum=0`` is signSGD.

    lr: η (> 0); momentum: β in [0, 1); weight_decay: λ ≥ 0 (decoupled).
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One sign step for every parameter that has a gradient."""
        return step_each(self, closure, self._update)

    @staticmethod
    def _update(p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, beta = group["lr"], group["momentum"]
        direction = grad
        if beta > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            direction = state["momentum_buffer"].lerp_(grad, 1 - beta)
        p.mul_(1 - lr * group["weight_decay"])
        p.add_(direction.sign(), alpha=-lr)


class SignSGD(Signum):
    """θ ← (1 − ηλ)θ − η·sign(g). lr: η (> 0); weight_decay: λ ≥ 0 (decoupled)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay)


@OPTIMIZERS.register
def signsgd(params: Iterable[Any], lr: float, **kw: Any) -> torch.optim.Optimizer:
    """:class:`SignSGD`."""
    return SignSGD(params, lr=lr, **kw)


@OPTIMIZERS.register
def signum(params: Iterable[Any], lr: float, **kw: Any) -> torch.optim.Optimizer:
    """:class:`Signum` (sign of momentum, β = 0.9 by default)."""
    return Signum(params, lr=lr, **kw)
