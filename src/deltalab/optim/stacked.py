"""One Adam(W) step for G models trained side by side, their parameters stacked along dim 0.

A rate grid (or a grid of weight decays) trains fastest as one stacked model: one batched forward
(``torch.func.vmap`` over ``torch.func.stack_module_state``'s parameters, or a hand-batched
forward) and one backward for every copy. torch's optimizers take one rate per parameter *tensor*,
so they cannot step such a stack with a rate per *copy*; :func:`adam_step_stacked_` does, with
torch's own Adam arithmetic (``torch.optim.Adam``'s single-tensor update, in its order of
operations), AdamW's decoupled weight decay and ``clip_grad_norm_``'s clipping per copy.
Equal to G separate torch runs to float rounding (tests/test_optim_stacked.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def adam_step_stacked_(
    params: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    state: dict[str, tuple[torch.Tensor, torch.Tensor]],
    lr: torch.Tensor,
    step: int,
    *,
    weight_decay: torch.Tensor | None = None,
    max_norm: float | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """Step every copy g of the stacked ``params`` (each (G, ...)) in place, as its own optimizer would.

    Copy g: its gradient (``grads``, same keys and shapes) scaled as ``clip_grad_norm_(copy g's
    parameters, max_norm)`` when ``max_norm`` is given, then ``torch.optim.AdamW(lr=lr[g],
    weight_decay=weight_decay[g])`` — or ``torch.optim.Adam(lr=lr[g])`` without ``weight_decay``.
    ``state`` holds the moments (filled on the first call); ``step`` counts from 1. Gradients that
    are scaled are scaled in place.
    """
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")
    if set(grads) != set(params):
        raise ValueError(f"grads must have the keys of params, got {sorted(grads)} for {sorted(params)}")
    b1, b2 = betas
    with torch.no_grad():
        coef = None
        if max_norm is not None:
            norm = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads.values()]).sum(0).sqrt()  # (G,)
            coef = (max_norm / (norm + 1e-6)).clamp(max=1.0)  # clip_grad_norm_'s factor
        step_size = lr / (1 - b1**step)
        for name, p in params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            g = grads[name] if coef is None else grads[name].mul_(coef.view(shape))
            if weight_decay is not None:
                p.mul_(1 - (lr * weight_decay).view(shape))
            m, s = state.setdefault(name, (torch.zeros_like(p), torch.zeros_like(p)))
            m.lerp_(g, 1 - b1)
            s.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (s.sqrt() / math.sqrt(1 - b2**step)).add_(eps)
            p.sub_(m / denom * step_size.view(shape))
