"""μP learning rates: per-parameter multipliers from a model's shapes against its base shapes.

Yang, Hu et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer" (arXiv:2203.03466), Table 8 (the ``mup`` package's MuAdam / MuSGD rules).

A dimension is *infinite* when it differs from the base model's; m is the width multiplier of the
fan-in (matrix-like) or of the one infinite dimension (vector-like). With base rate η:

    kind          example                        Adam rate     SGD rate
    matrix-like   hidden W (width × width)       η / m         η
    vector-like   input W, biases, readout W     η             η · m
    scalar-like   nothing grows                  η             η

together with the init / forward multipliers of :mod:`deltalab.nn.mup` (readout × 1/m). At the
base width every m is 1 and the rates equal standard parametrization's exactly.

Departures from the mup package:
1. Base shapes are a plain ``{name: shape}`` dict (:func:`base_shapes`), not attributes set on
   every parameter; a parameter missing from it is a ValueError naming it.
2. Param groups are returned for any torch optimizer instead of wrapping Adam / SGD.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

RULES = ("adam", "sgd")


def base_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """``{parameter name: shape}`` of the base model (build it at base width, even on ``meta``)."""
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def lr_multiplier(shape: tuple[int, ...], base: tuple[int, ...], rule: str = "adam") -> float:
    """μP's rate multiplier for one parameter of ``shape`` whose base shape is ``base``."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if len(shape) != len(base):
        raise ValueError(f"shape {shape} and base shape {base} differ in rank")
    inf = [i for i, (d, b) in enumerate(zip(shape, base)) if d != b]
    if not inf:
        return 1.0
    if len(inf) == 1:  # vector-like: input weights, biases, readout weight
        m = shape[inf[0]] / base[inf[0]]
        return m if rule == "sgd" else 1.0
    fan_in_mult = shape[1] / base[1]  # matrix-like: (out, in, ...) with both dims grown
    return 1.0 / fan_in_mult if rule == "adam" else 1.0


def mup_param_groups(
    model: nn.Module, base: dict[str, tuple[int, ...]], lr: float, rule: str = "adam"
) -> list[dict[str, Any]]:
    """Param groups with μP rates ``lr · multiplier`` (one group per distinct multiplier)."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    groups: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if name not in base:
            raise ValueError(f"parameter {name!r} is missing from the base shapes ({len(base)} names)")
        groups.setdefault(lr_multiplier(tuple(p.shape), base[name], rule), []).append(p)
    return [{"params": ps, "lr": lr * mult} for mult, ps in sorted(groups.items())]


def mup_adam(
    model: nn.Module, base: dict[str, tuple[int, ...]] | None, lr: float, **kwargs: Any
) -> torch.optim.Adam:
    """torch Adam with μP's per-parameter rates against ``base`` (the mup package's ``MuAdam``), or
    with one rate for every parameter when ``base`` is None (standard parametrization).

    kwargs go to ``torch.optim.Adam`` (e.g. ``fused=True``: one kernel per step, same update rule).
    """
    if base is None:
        return torch.optim.Adam(model.parameters(), lr=lr, **kwargs)
    return torch.optim.Adam(mup_param_groups(model, base, lr, rule="adam"), lr=lr, **kwargs)
