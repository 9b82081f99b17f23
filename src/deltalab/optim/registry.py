"""The optimizer registry: name → factory ``(params, lr, **kwargs) -> torch.optim.Optimizer``.

torch's own optimizers are registered here, not rewritten (DESIGN.md: use what torch has).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from deltalab.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer", package="deltalab.optim")


@OPTIMIZERS.register
def sgd(
    params: Iterable[Any],
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    **kw: Any,
) -> torch.optim.Optimizer:
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"sgd momentum must lie in [0, 1), got {momentum}")
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov, **kw
    )


@OPTIMIZERS.register
def adam(params: Iterable[Any], lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register
def adamw(params: Iterable[Any], lr: float, weight_decay: float = 0.01, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register
def rmsprop(params: Iterable[Any], lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register
def rprop(params: Iterable[Any], lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Optimizer:
    if weight_decay:
        raise ValueError(f"rprop has no weight decay (torch.optim.Rprop), got weight_decay={weight_decay}")
    return torch.optim.Rprop(params, lr=lr, **kw)


def create_optimizer(name: str, params: Iterable[Any], lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    """Build a registered optimizer; a bad learning rate is a ValueError showing the value."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"learning rate must be a finite number > 0, got {lr}")
    return OPTIMIZERS.create(name, params, lr=lr, **kwargs)
