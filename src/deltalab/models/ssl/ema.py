"""The momentum (EMA) target network of BYOL, MoCo and JEPA.

Grill et al., "Bootstrap Your Own Latent" (BYOL), arXiv:2006.07733, §3.1: after each optimizer step

    ξ ← τ·ξ + (1 − τ)·θ,      τ_k = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2

(ξ target weights, θ online weights; τ is called ``momentum`` here, as in torch's BatchNorm sense
inverted: τ close to 1 means a slow target). Buffers (BatchNorm running statistics) are copied.
I-JEPA (Assran et al., arXiv:2301.08243) ramps τ linearly instead: τ_k = τ_base + (τ_end − τ_base)·k/(K − 1).

Departures: none, except that the schedule is optional (constant momentum by default).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def make_target(online: nn.Module) -> nn.Module:
    """A frozen deep copy of ``online`` to serve as the EMA target (no gradients)."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


def linear_momentum(step: int, steps: int, start: float, end: float) -> float:
    """τ_k of I-JEPA's linear EMA schedule: ``start`` at step 0, ``end`` at step ``steps`` − 1."""
    if steps <= 1:
        return start
    return start + (end - start) * min(step, steps - 1) / (steps - 1)


class EMA:
    """Moves ``target`` towards ``online``: target ← m·target + (1−m)·online, once per ``update()``.

    momentum: m at step 0; final_momentum and total_steps: if given, m follows BYOL's cosine schedule
    from ``momentum`` to ``final_momentum`` over ``total_steps`` updates, or with ``schedule="linear"``
    I-JEPA's linear ramp, which reaches ``final_momentum`` at update ``total_steps`` − 1.
    """

    def __init__(
        self,
        online: nn.Module,
        target: nn.Module,
        momentum: float = 0.99,
        final_momentum: float | None = None,
        total_steps: int | None = None,
        schedule: str = "cosine",
    ) -> None:
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if final_momentum is not None:
            if not 0 <= final_momentum <= 1:
                raise ValueError(f"final_momentum must be in [0, 1], got {final_momentum}")
            if total_steps is None or total_steps < 1:
                raise ValueError(f"a momentum schedule needs total_steps >= 1, got {total_steps}")
        if schedule not in ("cosine", "linear"):
            raise ValueError(f"schedule must be 'cosine' or 'linear', got {schedule!r}")
        self.schedule = schedule
        self.online, self.target = online, target
        self.momentum, self.final_momentum, self.total_steps = momentum, final_momentum, total_steps
        self.step = 0
        self._pairs = list(zip(online.parameters(), target.parameters()))
        if len(self._pairs) != len(list(target.parameters())):
            raise ValueError("online and target must have the same parameters")

    def momentum_at(self, step: int) -> float:
        """m_k: constant, BYOL's cosine ramp or I-JEPA's linear ramp towards ``final_momentum``."""
        if self.final_momentum is None or self.total_steps is None:
            return self.momentum
        if self.schedule == "linear":
            return linear_momentum(step, self.total_steps, self.momentum, self.final_momentum)
        frac = min(step, self.total_steps) / self.total_steps
        return (
            self.final_momentum - (self.final_momentum - self.momentum) * (math.cos(math.pi * frac) + 1) / 2
        )

    @torch.no_grad()
    def update(self) -> float:
        """One EMA step; returns the momentum used."""
        m = self.momentum_at(self.step)
        for p_online, p_target in self._pairs:
            p_target.mul_(m).add_(p_online, alpha=1 - m)
        for b_online, b_target in zip(self.online.buffers(), self.target.buffers()):
            b_target.copy_(b_online)
        self.step += 1
        return m
