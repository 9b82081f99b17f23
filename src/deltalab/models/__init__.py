"""Whole networks built from ``deltalab.nn``, registered for ``deltalab train``.

A model factory takes ``(in_shape, num_classes, **kwargs)`` — ``in_shape`` is one example's shape,
e.g. ``(64,)`` or ``(1, 8, 8)`` — and returns an ``nn.Module`` mapping (B, *in_shape) to
(B, num_classes). Modules in this package register theirs with ``@MODELS.register``.
"""

from deltalab.models.registry import MODELS, create_model

__all__ = ["MODELS", "create_model"]
