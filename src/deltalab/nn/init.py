"""Fan-in initialization: weights drawn with variance ``gain² / fan_in``.

LeCun, Bottou, Orr, Müller, "Efficient BackProp" (1998): with inputs of unit variance, weights
W_ij ~ N(0, 1/fan_in) give each pre-activation unit variance, so a sigmoid-like unit starts in
its linear range. He et al. (arXiv:1502.01852) use gain² = 2 for ReLU.

    W ~ N(0, gain² / fan_in),   fan_in = in_features (Linear) or C_in · kH · kW (Conv)

These are thin wrappers over ``torch.nn.init`` (``kaiming_normal_`` with ``mode="fan_in"`` and
the linear gain is the same distribution); they exist so that the claims can name the rule
and switch between it and a fixed-scale N(0, std²) init over a whole model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def fan_in(weight: torch.Tensor) -> int:
    """Inputs per output unit: in_features for (out, in), C_in · prod(kernel) for convolutions."""
    if weight.dim() < 2:
        raise ValueError(f"fan_in needs a weight with >= 2 dims, got shape {tuple(weight.shape)}")
    return int(weight[0].numel())


@torch.no_grad()
def fan_in_normal_(
    weight: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """In place: ``weight ~ N(0, gain² / fan_in)``; returns ``weight``."""
    if not gain > 0:
        raise ValueError(f"gain must be > 0, got {gain}")
    std = gain / math.sqrt(fan_in(weight))
    return weight.normal_(0.0, std, generator=generator)


@torch.no_grad()
def init_model_(
    model: nn.Module,
    scheme: str = "fan_in",
    gain: float = 1.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-initialize every Linear/Conv weight of ``model`` and zero the biases.

    scheme: ``"fan_in"`` draws N(0, gain²/fan_in); ``"normal"`` draws N(0, std²) whatever the
    fan-in (the naive init that saturates deep tanh nets).
    """
    if scheme not in ("fan_in", "normal"):
        raise ValueError(f"scheme must be 'fan_in' or 'normal', got {scheme!r}")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    for m in model.modules():
        if isinstance(m, _LAYERS):
            if scheme == "fan_in":
                fan_in_normal_(m.weight, gain, generator)
            else:
                m.weight.normal_(0.0, std, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
    return model
