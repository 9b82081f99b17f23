"""The model registry: name → factory ``(in_shape, num_classes, **kwargs) -> nn.Module``."""

from __future__ import annotations

from typing import Any

from torch import nn

from deltalab.lab.registry import Registry

MODELS: Registry = Registry("model", package="deltalab.models")


def create_model(name: str, in_shape: tuple[int, ...], num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model for inputs of shape ``in_shape`` and ``num_classes`` outputs."""
    return MODELS.create(name, tuple(in_shape), num_classes, **kwargs)
