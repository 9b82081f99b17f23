"""Input checks for deltalab's layers: one clear ``ValueError`` naming the expected shape.

A wrong shape reaching ``F.linear`` reads "mat1 and mat2 shapes cannot be multiplied (2x6 and 4x3)";
the same mistake caught at the layer's door reads "expected x of shape (B, 4), got (2, 6)". Each
layer calls :func:`check_shape` on what it is given before any work, so the message names the
layer's own vocabulary (features, channels, hidden state) rather than an internal matmul.
"""

from __future__ import annotations

from types import EllipsisType

import torch

Dim = int | str | None | EllipsisType


def describe(shape: tuple[Dim, ...]) -> str:
    """``("B", "T", 4)`` → ``"(B, T, 4)"``; ``...`` prints as ``*`` and ``None`` as ``_``."""
    parts = ["*" if d is Ellipsis else "_" if d is None else str(d) for d in shape]
    return "(" + ", ".join(parts) + ")"


def check_shape(x: torch.Tensor, name: str, shape: tuple[Dim, ...]) -> None:
    """Raise ``ValueError`` unless ``x`` has ``shape``.

    ``shape`` lists the dims: an int must match exactly; a string (a dim's name, e.g. ``"B"``) or
    ``None`` matches any size; a leading ``...`` matches any number of leading dims (zero or more).

    >>> check_shape(torch.zeros(2, 4), "x", ("B", 4))
    >>> check_shape(torch.zeros(2, 6), "x", ("B", 4))
    Traceback (most recent call last):
    ValueError: expected x of shape (B, 4), got (2, 6)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"expected {name} to be a torch.Tensor of shape {describe(shape)}, got {type(x).__name__}"
        )
    fixed = shape[1:] if shape and shape[0] is Ellipsis else shape
    ok = x.dim() >= len(fixed) if len(fixed) < len(shape) else x.dim() == len(fixed)
    if ok:
        tail = x.shape[x.dim() - len(fixed) :]
        ok = all(not isinstance(d, int) or d == n for d, n in zip(fixed, tail, strict=True))
    if not ok:
        raise ValueError(f"expected {name} of shape {describe(shape)}, got {tuple(x.shape)}")


def check_integer(x: torch.Tensor, name: str, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` holds integer ids (in ``[0, high)`` when ``high`` is given)."""
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"expected {name} to hold integer ids (torch.long), got dtype {x.dtype}")
    if high is not None and x.numel() and (int(x.min()) < 0 or int(x.max()) >= high):
        raise ValueError(f"expected {name} ids in [0, {high}), got min {int(x.min())}, max {int(x.max())}")
