"""An exponential moving average of a model's weights, to evaluate or sample from after training.

    θ_ema ← decay · θ_ema + (1 − decay) · θ      after every optimizer step

Generative models sample from it: DDPM (Ho et al., arXiv:2006.11239, §4), ProGAN and StyleGAN;
for GANs it damps the oscillation of the adversarial game around its equilibrium (Yazıcı et al.,
"The Unusual Effectiveness of Averaging in GAN Training", arXiv:1806.04498). This is torch's
``AveragedModel`` with its EMA rule; buffers (BatchNorm statistics) are averaged too. (The BYOL /
JEPA target network, whose momentum follows a schedule and whose buffers are copied, is
``models.ssl.ema``.)

Departures: none.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def ema_of(model: nn.Module, decay: float) -> AveragedModel:
    """An ``AveragedModel`` of ``model``; call ``update_parameters(model)`` after each step and use
    ``.module`` for the average (its first update copies the weights)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def ema_updater(ema: AveragedModel, model: nn.Module) -> Callable[[], None]:
    """``ema.update_parameters(model)`` without its per-call Python walk over the modules.

    ``AveragedModel.update_parameters`` re-collects, detaches and regroups every parameter and
    buffer on each call (~0.5-1 ms a step of a small model on one CPU thread). When the average is a
    ``multi_avg_fn`` (``ema_of``: a foreach lerp) over the module's parameters and buffers, the
    (device, dtype) groups are built once and the same function is called on each: bit-identical
    weights (a BatchNorm's integer step counter is its own group, as in torch). Anything else
    (an ``avg_fn``, ``use_buffers=False``, tensors on other devices) falls back to torch's update.
    Call the returned function after every optimizer step instead of ``update_parameters``.
    """
    own = list(ema.module.parameters()) + list(ema.module.buffers())
    src = list(model.parameters()) + list(model.buffers())
    same = len(own) == len(src) and all(
        (a.device, a.dtype) == (b.device, b.dtype) for a, b in zip(own, src, strict=True)
    )
    if ema.multi_avg_fn is None or not ema.use_buffers or not same:
        return lambda: ema.update_parameters(model)
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
    for a, b in zip(own, src, strict=True):
        mine, theirs = groups.setdefault((a.device, a.dtype), ([], []))
        mine.append(a.detach())
        theirs.append(b.detach())
    copied = int(ema.n_averaged) > 0  # read once here, not a host read of n_averaged every step

    def update() -> None:
        nonlocal copied
        if not copied:
            ema.update_parameters(model)  # the first call copies the weights
            copied = True
            return
        for (device, _), (mine, theirs) in groups.items():
            ema.multi_avg_fn(mine, theirs, ema.n_averaged.to(device))
        ema.n_averaged += 1

    return update
