"""Per-weight adaptive gains (delta-bar-delta): grow a weight's rate while its gradient keeps its sign.

Jacobs, "Increased Rates of Convergence Through Learning Rate Adaptation", Neural Networks 1(4),
1988 (no arXiv); the simplified form taught in Hinton's Coursera lecture 6d ("adaptive learning
rates for each connection"). Each weight i has a gain gᵢ (starting at 1). With global rate η,
increment κ, decay φ, gain range [g_min, g_max], momentum μ and trace weight θ:

    δ̄ᵢ ← (1 − θ) gᵢ_t + θ δ̄ᵢ              (θ = 0: the previous gradient, Hinton's form)
    gᵢ ← gᵢ + κ      if gᵢ_t · δ̄ᵢ_prev > 0   (sign kept: additive increase)
    gᵢ ← gᵢ · φ      if gᵢ_t · δ̄ᵢ_prev < 0   (sign flipped: multiplicative cut)
    gᵢ ← clip(gᵢ, g_min, g_max)
    vᵢ ← μ vᵢ − η gᵢ ∇ᵢ;   θᵢ ← θᵢ + vᵢ

Defaults κ = 0.05, φ = 0.95 (Hinton's lecture) and gains clipped to [0.1, 10]. torch ships no
such optimizer, hence written here.

Departures from Jacobs (1988):
1. The decrease multiplies the gain by φ (Jacobs: ε ← (1 − φ)ε with φ ≈ 0.1-0.5, i.e. a harsher
   cut); ``decrease`` is that factor, so both conventions are one argument away.
2. Gains are clipped to [min_gain, max_gain], as the lecture recommends, to stop runaway rates.
3. Optional heavy-ball momentum on top (the lecture's suggestion); Jacobs used none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from deltalab.optim.base import step_each
from deltalab.optim.registry import OPTIMIZERS


class DeltaBarDelta(torch.optim.Optimizer):
    """SGD with a per-weight gain raised by ``increase`` when the gradient keeps its sign, cut by ``decrease`` when it flips.

    lr: global rate η > 0; increase: κ > 0; decrease: φ in (0, 1]; min_gain, max_gain: gain range
    (0 < min_gain ≤ 1 ≤ max_gain); momentum: μ in [0, 1); theta: weight θ in [0, 1) of the
    gradient trace compared against (0: the previous gradient); weight_decay: L2 added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        increase: float = 0.05,
        decrease: float = 0.95,
        min_gain: float = 0.1,
        max_gain: float = 10.0,
        momentum: float = 0.0,
        theta: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        checks = [
            ("lr", lr, lr > 0, "> 0"),
            ("increase", increase, increase > 0, "> 0"),
            ("decrease", decrease, 0 < decrease <= 1, "in (0, 1]"),
            ("min_gain", min_gain, 0 < min_gain <= 1, "in (0, 1]"),
            ("max_gain", max_gain, max_gain >= 1, ">= 1"),
            ("momentum", momentum, 0 <= momentum < 1, "in [0, 1)"),
            ("theta", theta, 0 <= theta < 1, "in [0, 1)"),
            ("weight_decay", weight_decay, weight_decay >= 0, ">= 0"),
        ]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {value!r}")
        defaults = dict(
            lr=lr,
            increase=increase,
            decrease=decrease,
            min_gain=min_gain,
            max_gain=max_gain,
            momentum=momentum,
            theta=theta,
            weight_decay=weight_decay,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Adapt every gain from the sign agreement, then take the (momentum) step."""
        return step_each(self, closure, self._update)

    @staticmethod
    def _update(p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if group["weight_decay"]:
            grad = grad.add(p, alpha=group["weight_decay"])
        if not state:
            state["gain"] = torch.ones_like(p, memory_format=torch.preserve_format)
            state["trace"] = grad.clone()  # first step: no sign history, gains stay 1
            state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        else:
            agree = grad * state["trace"]
            gain = state["gain"]
            gain.add_(torch.where(agree > 0, group["increase"], 0.0))
            gain.mul_(torch.where(agree < 0, group["decrease"], 1.0))
            gain.clamp_(group["min_gain"], group["max_gain"])
            state["trace"].mul_(group["theta"]).add_(grad, alpha=1 - group["theta"])
        velocity = state["velocity"]
        velocity.mul_(group["momentum"]).addcmul_(state["gain"], grad, value=-group["lr"])
        p.add_(velocity)


@OPTIMIZERS.register
def delta_bar_delta(params: Iterable[Any], lr: float, **kw: Any) -> torch.optim.Optimizer:
    """:class:`DeltaBarDelta` (per-weight adaptive gains)."""
    return DeltaBarDelta(params, lr=lr, **kw)
