"""A second digits domain for unpaired translation: strokes thickened by one pixel, then inverted.

    restyle(x) = 1 − max over the 2×2 window at (i, j), (i, j+1), (i+1, j), (i+1, j+1) of x

The map is deterministic, so every restyled digit has a known partner; the CycleGAN claim never
uses the pairing for training (it samples the two domains independently) and only for plots.
Shapes: (N, 1, H, W) in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def restyle(x: torch.Tensor) -> torch.Tensor:
    """Thicken (2×2 max, anchored top-left) and invert images (N, 1, H, W) in [0, 1]."""
    if x.dim() != 4:
        raise ValueError(f"restyle expects (N, C, H, W) images, got {tuple(x.shape)}")
    thick = F.max_pool2d(F.pad(x, (0, 1, 0, 1)), kernel_size=2, stride=1)  # (N, C, H, W)
    return 1.0 - thick
