"""The model registry: name → factory ``(in_shape, num_classes, **kwargs) -> nn.Module``."""

from __future__ import annotations

from typing import Any

from torch import nn

from deltalab.registry import Registry

MODELS: Registry = Registry("model", package="deltalab.models")


def create_model(name: str, in_shape: tuple[int, ...], num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model for inputs of shape ``in_shape`` and ``num_classes`` outputs."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a whole number >= 1, got {num_classes!r}")
    if not in_shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in in_shape):
        raise ValueError(f"in_shape must be a non-empty tuple of sizes >= 1, got {in_shape!r}")
    return MODELS.create(name, tuple(in_shape), num_classes, **kwargs)
