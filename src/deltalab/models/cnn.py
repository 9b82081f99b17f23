"""Small image classifiers: a plain CNN (flatten or global-average-pool head, optional 1×1
bottlenecks), Network-in-Network and an Inception net, sized for 8×8 digits and small canvases.

LeCun et al. 1998 (LeNet); Lin et al., "Network In Network" (arXiv:1312.4400); Szegedy et al.,
"Going Deeper with Convolutions" (arXiv:1409.4842). The blocks live in ``deltalab.nn.conv_blocks``.

Shapes: B batch, C channels, H×W spatial. Every factory takes ``in_shape`` as ``(C, H, W)`` or a
flat ``(H·W,)`` of a square one-channel image (what ``deltalab train --data digits`` gives).

Departures:
1. Widths are scaled down to the 8×8 digits (tens of channels, one pooling stage).
2. ``batch_norm=True`` (the default) puts a BatchNorm2d after every conv, NiN and Inception
   included, which postdate neither paper's idea but let each train in a few epochs on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from deltalab.models.registry import MODELS
from deltalab.nn.conv_blocks import GlobalAvgPool, Inception, MLPConv, ReduceConv, conv_norm_relu


def image_shape(in_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) from ``(C, H, W)``, ``(H, W)`` or a flat square ``(H·W,)``."""
    if len(in_shape) == 3:
        return in_shape  # type: ignore[return-value]
    if len(in_shape) == 2:
        return (1, *in_shape)
    if len(in_shape) == 1 and math.isqrt(in_shape[0]) ** 2 == in_shape[0]:
        s = math.isqrt(in_shape[0])
        return (1, s, s)
    raise ValueError(f"in_shape must be (C, H, W), (H, W) or a flat square (H*W,), got {in_shape}")


class ToImage(nn.Module):
    """Reshape (B, *anything) to (B, C, H, W)."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x[0].numel() != math.prod(self.shape):
            raise ValueError(
                f"expected inputs of {math.prod(self.shape)} values {self.shape}, got {tuple(x.shape)}"
            )
        return x.reshape(len(x), *self.shape)


class CNN(nn.Sequential):
    """[conv3 → ReLU] per width (max-pool 2 after the first ``pool_after`` stages) → head.

    head='flatten': flatten → Linear (LeNet style); head='gap': global average pool → Linear.
    bottleneck>0: each conv after the first is a 1×1 reduction to ``bottleneck`` channels then the 3×3.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        widths: Sequence[int] = (32, 64),
        head: str = "flatten",
        bottleneck: int = 0,
        pool_after: int = 1,
        batch_norm: bool = True,
    ) -> None:
        if head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be non-empty positive ints, got {widths}")
        norm = nn.BatchNorm2d if batch_norm else None
        c, h, w = image_shape(in_shape)
        layers: list[nn.Module] = [ToImage((c, h, w))]
        for i, width in enumerate(widths):
            if bottleneck and i > 0:
                layers.append(ReduceConv(c, bottleneck, width, 3, norm))
            else:
                layers += conv_norm_relu(c, width, 3, 1, norm)
            if i < pool_after:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = width
        if head == "gap":
            layers += [GlobalAvgPool(), nn.Linear(c, num_classes)]
        else:
            layers += [nn.Flatten(), nn.Linear(c * h * w, num_classes)]
        super().__init__(*layers)


class NiN(nn.Sequential):
    """Network-in-Network: mlpconv → max-pool → mlpconv → 1×1 conv to ``num_classes`` maps → GAP.

    No fully connected layer: each class is one feature map, averaged over positions.
    """

    def __init__(
        self, in_shape: tuple[int, ...], num_classes: int, width: int = 32, batch_norm: bool = True
    ) -> None:
        norm = nn.BatchNorm2d if batch_norm else None
        c, h, w = image_shape(in_shape)
        super().__init__(
            ToImage((c, h, w)),
            MLPConv(c, width, norm_layer=norm),
            nn.MaxPool2d(2),
            MLPConv(width, 2 * width, num_1x1=1, norm_layer=norm),
            nn.Conv2d(2 * width, num_classes, 1),
            GlobalAvgPool(),
        )


class InceptionNet(nn.Sequential):
    """Stem conv → Inception → max-pool → Inception → GAP → Linear."""

    def __init__(
        self, in_shape: tuple[int, ...], num_classes: int, width: int = 16, batch_norm: bool = True
    ) -> None:
        norm = nn.BatchNorm2d if batch_norm else None
        c, h, w = image_shape(in_shape)
        a = Inception(2 * width, width, width, 2 * width, width // 2, width, width, norm)
        b = Inception(a.out_channels, 2 * width, width, 3 * width, width // 2, width, width, norm)
        super().__init__(
            ToImage((c, h, w)),
            *conv_norm_relu(c, 2 * width, 3, 1, norm),
            a,
            nn.MaxPool2d(2),
            b,
            GlobalAvgPool(),
            nn.Linear(b.out_channels, num_classes),
        )


@MODELS.register
def cnn(
    in_shape: tuple[int, ...],
    num_classes: int,
    widths: Sequence[int] = (32, 64),
    head: str = "flatten",
    bottleneck: int = 0,
    batch_norm: bool = True,
) -> nn.Module:
    """A plain CNN (conv3/ReLU stages, one max-pool); head 'flatten' or 'gap'; optional 1×1 bottlenecks."""
    return CNN(in_shape, num_classes, widths, head, bottleneck, batch_norm=batch_norm)


@MODELS.register
def nin(in_shape: tuple[int, ...], num_classes: int, width: int = 32, batch_norm: bool = True) -> nn.Module:
    """Network-in-Network (mlpconv blocks, global-average-pooled class maps)."""
    return NiN(in_shape, num_classes, width, batch_norm)


@MODELS.register
def inception(
    in_shape: tuple[int, ...], num_classes: int, width: int = 16, batch_norm: bool = True
) -> nn.Module:
    """Two Inception modules (1×1, 3×3, 5×5, pool branches) and a GAP head."""
    return InceptionNet(in_shape, num_classes, width, batch_norm)
