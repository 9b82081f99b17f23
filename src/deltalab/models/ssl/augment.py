"""Augmentations for small images written with torch ops (SimCLR's "composition of augmentations").

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR),
arXiv:2002.05709, §3: the views are random crops (resized back), colour distortion and blur; the
composition matters more than any single one.

Every transform here is per-sample and drawn from an explicit ``torch.Generator`` so that a seed
fixes the views. Crop, shift and rotation are folded into ONE affine map per image and applied by a
single ``F.grid_sample`` call (bilinear, zero padding). Shapes: B batch, C channels, H×W image.

Departures from SimCLR:
1. Digits are 8×8 grey images: colour jitter becomes intensity jitter (a random gain), blur is
   replaced by additive Gaussian noise, and cutout (a zeroed square) is added.
2. The crop is an affine zoom (scale ``s`` in ``crop_scale``, random centre) instead of a cropped
   box resized with antialiasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to compose and how strong each is (all off = identity)."""

    crop_scale: tuple[float, float] = (0.6, 1.0)
    """Range of the side fraction kept by the random resized crop (1.0 = no crop)."""
    max_shift: float = 1.0
    """Largest translation in pixels, drawn uniformly per axis."""
    max_rotation: float = 15.0
    """Largest rotation in degrees, drawn uniformly in [-max_rotation, max_rotation]."""
    noise_std: float = 0.1
    """Standard deviation of the additive Gaussian pixel noise."""
    gain: tuple[float, float] = (0.7, 1.3)
    """Range of the random intensity gain (the grey-image stand-in for colour jitter)."""
    cutout: int = 3
    """Side in pixels of the zeroed square (0 = no cutout)."""
    cutout_p: float = 0.5
    """Probability that an image gets the cutout."""

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")
        if self.max_shift < 0 or self.max_rotation < 0 or self.noise_std < 0 or self.cutout < 0:
            raise ValueError(
                "max_shift, max_rotation, noise_std and cutout must be >= 0, got "
                f"{self.max_shift}, {self.max_rotation}, {self.noise_std}, {self.cutout}"
            )
        if not 0 <= self.cutout_p <= 1:
            raise ValueError(f"cutout_p must be in [0, 1], got {self.cutout_p}")
        if not 0 < self.gain[0] <= self.gain[1]:
            raise ValueError(f"gain must satisfy 0 < lo <= hi, got {self.gain}")


NO_AUGMENT = AugmentConfig(
    crop_scale=(1.0, 1.0), max_shift=0.0, max_rotation=0.0, noise_std=0.0, gain=(1.0, 1.0), cutout=0
)
"""The identity: every augmentation switched off."""

ABLATIONS: dict[str, AugmentConfig] = {
    "all": AugmentConfig(),
    "crop+shift+rotate": replace(NO_AUGMENT, crop_scale=(0.6, 1.0), max_shift=1.0, max_rotation=15.0),
    "noise+gain+cutout": replace(NO_AUGMENT, noise_std=0.1, gain=(0.7, 1.3), cutout=3, cutout_p=0.5),
    "noise only": replace(NO_AUGMENT, noise_std=0.1),
}
"""The compositions SimCLR's ablation compares (geometric vs photometric vs all)."""


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


class Augment:
    """A random view of each image: affine (crop ∘ rotate ∘ shift) → gain → noise → cutout.

    ``augment(x, generator)`` maps (B, C, H, W) to (B, C, H, W); the random draws are made on the
    CPU generator and moved to ``x.device`` so that a seed gives the same views on every device.
    """

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
        c = self.config
        b, _, h, w = x.shape
        scale = _uniform(b, *c.crop_scale, generator)
        angle = _uniform(b, -c.max_rotation, c.max_rotation, generator) * math.pi / 180
        # The crop centre may move by the slack the zoom leaves, plus the shift (in [-1, 1] units).
        slack = 1 - scale
        tx = _uniform(b, -1, 1, generator) * slack + _uniform(b, -1, 1, generator) * c.max_shift * 2 / w
        ty = _uniform(b, -1, 1, generator) * slack + _uniform(b, -1, 1, generator) * c.max_shift * 2 / h
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
        out = x
        if not torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(b, 2, 3)):
            grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)  # (B, H, W, 2)
            out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        gain = _uniform(b, *c.gain, generator).to(x).view(b, 1, 1, 1)
        out = out * gain
        if c.noise_std > 0:
            out = out + c.noise_std * torch.randn(x.shape, generator=generator).to(x)
        if c.cutout > 0:
            cy = torch.randint(0, h, (b,), generator=generator)
            cx = torch.randint(0, w, (b,), generator=generator)
            on = torch.rand(b, generator=generator) < c.cutout_p
            rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
            half = c.cutout // 2
            box = (
                ((rows - cy.view(b, 1, 1)).abs() <= half)
                & ((cols - cx.view(b, 1, 1)).abs() <= half)
                & on.view(b, 1, 1)
            )  # (B, H, W)
            out = out.masked_fill(box.unsqueeze(1).to(x.device), 0.0)
        return out
