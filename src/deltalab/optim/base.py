"""The step skeleton that torch's own optimizers share, written once for deltalab's.

Every ``torch.optim`` optimizer's ``step`` evaluates the closure with gradients enabled, then walks
the param groups and updates each parameter that has a gradient. :func:`step_each` is that walk;
an optimizer here supplies only its per-parameter update ``update(p, grad, group, state)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

Update = Callable[[Tensor, Tensor, dict[str, Any], dict[str, Any]], None]


def step_each(
    optimizer: torch.optim.Optimizer, closure: Callable[[], Tensor] | None, update: Update
) -> Tensor | None:
    """Run ``closure`` (if any) with gradients on, then ``update(p, p.grad, group, state)`` for every
    parameter with a gradient, group by group; returns the closure's loss. Call it under
    ``torch.no_grad()`` (the optimizer's ``step`` is decorated with it)."""
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                update(p, p.grad, group, optimizer.state[p])
    return loss
