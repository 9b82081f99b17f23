"""The step-level training loop: ``fit_steps`` for claims about an optimizer, a penalty or a data stream.

Many claims train for a fixed number of steps on batches they draw themselves (a fresh task batch,
a length drawn per step, a proximal step after each update) and compare loss curves. The
:class:`~deltalab.train.trainer.Trainer` is an epoch loop over a fixed data set with evaluation,
checkpoints and early stopping; it shares :func:`optimizer_step` with this loop, so an update means
the same thing in both::

    losses = fit_steps(lambda: F.cross_entropy(model(x), y), opt, 500, clip=1.0)

Keep a hand-written loop only where the loop itself is what a claim teaches (TD updates, GAN
alternation, REINFORCE); say so in a comment there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    clip: float | None = None,
    params: Iterable[torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_per_group: bool = False,
) -> None:
    """One update: zero the gradients, backpropagate ``loss``, clip the gradient norm of ``params``
    (default: the optimizer's) to ``clip``, step the optimizer, then the scheduler.

    ``clip_per_group``: clip each of the optimizer's param groups to ``clip`` on its own (several
    models trained side by side by one optimizer, one group each, on the sum of their losses: each
    is clipped as if it were trained alone)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None and clip_per_group:
        if params is not None:
            raise ValueError("clip_per_group clips the optimizer's groups; do not pass params")
        for group in optimizer.param_groups:
            nn.utils.clip_grad_norm_(group["params"], clip)
    elif clip is not None:
        nn.utils.clip_grad_norm_(list(params) if params is not None else _params(optimizer), clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def fit_steps(
    loss_fn: Callable[[], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    *,
    clip: float | None = None,
    params: Iterable[torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    after_step: Callable[[int, torch.Tensor], bool | None] | None = None,
    clip_per_group: bool = False,
) -> list[float]:
    """Run ``steps`` updates of ``loss_fn()`` (which draws its own batch); return the loss curve.

    ``after_step(step, loss)`` runs after each update with the 1-based step count and the (detached)
    loss: a proximal step, a curriculum's check, an evaluation; returning ``True`` stops early (the
    curve then ends at that step). ``clip``, ``params``, ``scheduler`` and ``clip_per_group`` are
    :func:`optimizer_step`'s. The curve is read from the device once, at the end.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    params = list(params) if params is not None else None
    losses: list[torch.Tensor] = []
    for step in range(1, steps + 1):
        loss = loss_fn()
        optimizer_step(
            loss, optimizer, clip=clip, params=params, scheduler=scheduler, clip_per_group=clip_per_group
        )
        losses.append(loss.detach())
        if after_step is not None and after_step(step, losses[-1]) is True:
            break
    return torch.stack(losses).tolist() if losses else []
