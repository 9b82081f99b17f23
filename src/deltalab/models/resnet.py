"""Residual networks and their plain twins, CIFAR-style (He et al., arXiv:1512.03385, §4.2).

depth = 6n + 2 in the paper (three stages of n two-conv blocks, a stem conv and the classifier);
here any even depth ≥ 4 is split into ``num_stages`` stages of (depth − 2)/2 blocks in all, the
width doubling and the resolution halving from stage to stage.

Shapes: B batch, C channels, H×W spatial.

Departures:
1. Two stages by default (8×8 digits have room for one halving).
2. ``residual=False`` builds the plain net of the paper's Fig. 4: the same convs and norms without
   the shortcuts. ``block='bottleneck'`` uses 1×1-3×3-1×1 blocks (3 convs each).
"""

from __future__ import annotations

from torch import nn

from deltalab.models.cnn import ToImage, image_shape
from deltalab.models.registry import MODELS
from deltalab.nn.conv_blocks import BasicBlock, BottleneckBlock, GlobalAvgPool


class ResNet(nn.Sequential):
    """stem conv3 → stages of blocks (stride 2 at each stage's first block after the first) → GAP → Linear."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        num_layers: int = 8,
        width: int = 16,
        num_stages: int = 2,
        residual: bool = True,
        block: str = "basic",
    ) -> None:
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
        per_block = 2 if block == "basic" else 3
        if num_layers < 2 + per_block or (num_layers - 2) % per_block:
            raise ValueError(
                f"num_layers must be 2 + {per_block}·k with k >= 1 for {block} blocks, got {num_layers}"
            )
        if num_stages < 1 or width < 1:
            raise ValueError(f"num_stages and width must be >= 1, got {num_stages}, {width}")
        n_blocks = (num_layers - 2) // per_block
        c, h, w = image_shape(in_shape)
        layers: list[nn.Module] = [
            ToImage((c, h, w)),
            nn.Conv2d(c, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        c_in = width
        for i in range(n_blocks):
            stage = min(i * num_stages // n_blocks, num_stages - 1)
            c_out = width * 2**stage
            stride = 2 if c_out != c_in else 1
            if block == "basic":
                layers.append(BasicBlock(c_in, c_out, stride, residual=residual))
            else:
                layers.append(BottleneckBlock(c_in, max(c_out // 4, 1), c_out, stride, residual=residual))
            c_in = c_out
        layers += [GlobalAvgPool(), nn.Linear(c_in, num_classes)]
        super().__init__(*layers)


@MODELS.register
def resnet(
    in_shape: tuple[int, ...],
    num_classes: int,
    num_layers: int = 8,
    width: int = 16,
    residual: bool = True,
    block: str = "basic",
) -> nn.Module:
    """A small ResNet (``residual=False``: its plain twin) of ``num_layers`` weighted layers (ResNet-8: 8)."""
    return ResNet(in_shape, num_classes, num_layers, width, residual=residual, block=block)
