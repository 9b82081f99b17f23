"""Building blocks of the classic convolutional architectures.

- Network-in-Network's mlpconv and global average pooling: Lin, Chen & Yan, "Network In
  Network" (arXiv:1312.4400).
- 1×1 bottlenecks and the Inception module: Szegedy et al., "Going Deeper with Convolutions"
  (arXiv:1409.4842).
- Basic and bottleneck residual blocks: He et al., "Deep Residual Learning for Image Recognition"
  (arXiv:1512.03385):  y = ReLU(F(x) + shortcut(x)), shortcut = identity or 1×1 conv + norm.

Shapes: B batch, C channels, H×W spatial.

Departures:
1. ``residual=False`` turns a residual block into its "plain" twin (same layers, no shortcut),
   the comparison of the ResNet paper's Fig. 4.
2. Inception's branches use "same" padding so that any input size works; no auxiliary heads.
3. Every block takes a ``norm_layer`` put after each conv (batch norm arrived after NiN and the first
   Inception; it lets all of them train in a few epochs). ``None`` (mlpconv, reduce, Inception)
   gives the original norm-free block; residual blocks default to ``nn.BatchNorm2d`` as in ResNet.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from deltalab.nn.shapes import check_shape

NormLayer = Callable[[int], nn.Module]


def conv_norm_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    padding: int = 0,
    norm_layer: NormLayer | None = None,
) -> list[nn.Module]:
    """[Conv2d → (norm) → ReLU] as a list of modules; the conv has no bias when a norm follows."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=norm_layer is None)
    return [conv, norm_layer(out_channels), nn.ReLU()] if norm_layer is not None else [conv, nn.ReLU()]


def _check_channels(**channels: int) -> None:
    for name, c in channels.items():
        if c < 1:
            raise ValueError(f"{name} must be >= 1, got {c}")


class MLPConv(nn.Sequential):
    """NiN's mlpconv: a K×K conv followed by 1×1 convs (a small MLP sliding over positions), ReLUs between.

    (B, in_channels, H, W) → (B, out_channels, H', W') with H' from the K×K conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        num_1x1: int = 2,
        norm_layer: NormLayer | None = None,
    ) -> None:
        _check_channels(in_channels=in_channels, out_channels=out_channels)
        if num_1x1 < 0:
            raise ValueError(f"num_1x1 must be >= 0, got {num_1x1}")
        layers = conv_norm_relu(in_channels, out_channels, kernel_size, padding, norm_layer)
        for _ in range(num_1x1):
            layers += conv_norm_relu(out_channels, out_channels, 1, 0, norm_layer)
        super().__init__(*layers)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, "x", ("B", self.in_channels, "H", "W"))
        return super().forward(x)


class GlobalAvgPool(nn.Module):
    """Mean over all spatial positions: (B, C, *spatial) → (B, C). NiN's head replaces the FC layers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"expected (B, C, *spatial), got shape {tuple(x.shape)}")
        return x.flatten(2).mean(-1)


class ReduceConv(nn.Sequential):
    """A 1×1 bottleneck before a K×K conv: C_in → mid (1×1) → C_out (K×K), ReLU after each.

    Costs K²·mid·C_out + mid·C_in weights instead of K²·C_in·C_out.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        norm_layer: NormLayer | None = None,
    ) -> None:
        _check_channels(in_channels=in_channels, mid_channels=mid_channels, out_channels=out_channels)
        super().__init__(
            *conv_norm_relu(in_channels, mid_channels, 1, 0, norm_layer),
            *conv_norm_relu(mid_channels, out_channels, kernel_size, kernel_size // 2, norm_layer),
        )
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, "x", ("B", self.in_channels, "H", "W"))
        return super().forward(x)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: 1×1; 1×1→3×3; 1×1→5×5; 3×3 max-pool→1×1.

    (B, in_channels, H, W) → (B, c1 + c3 + c5 + pool_proj, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        norm_layer: NormLayer | None = None,
    ) -> None:
        super().__init__()
        _check_channels(in_channels=in_channels, c1=c1, c3=c3, c5=c5, pool_proj=pool_proj)
        self.branch1 = nn.Sequential(*conv_norm_relu(in_channels, c1, 1, 0, norm_layer))
        self.branch3 = ReduceConv(in_channels, c3_reduce, c3, 3, norm_layer)
        self.branch5 = ReduceConv(in_channels, c5_reduce, c5, 5, norm_layer)
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), *conv_norm_relu(in_channels, pool_proj, 1, 0, norm_layer)
        )
        self.in_channels, self.out_channels = in_channels, c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, "x", ("B", self.in_channels, "H", "W"))
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([b(x) for b in branches], dim=1)  # (B, c1+c3+c5+pool_proj, H, W)


def _shortcut(
    in_channels: int, out_channels: int, stride: int, norm_layer: NormLayer, residual: bool
) -> nn.Module | None:
    """Identity, or 1×1 conv + norm where the shape changes; None for a plain (non-residual) block."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if not residual:
        return None
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), norm_layer(out_channels)
    )


class BasicBlock(nn.Module):
    """y = ReLU(norm(conv3(ReLU(norm(conv3(x))))) + shortcut(x)); ``residual=False`` drops the shortcut.

    (B, in_channels, H, W) → (B, out_channels, H/stride, W/stride).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        residual: bool = True,
    ) -> None:
        super().__init__()
        _check_channels(in_channels=in_channels, out_channels=out_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = norm_layer(out_channels)
        self.relu = nn.ReLU()
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm_layer, residual)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, "x", ("B", self.in_channels, "H", "W"))
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class BottleneckBlock(nn.Module):
    """1×1 reduce → 3×3 → 1×1 expand, each normed, ReLU between, plus the shortcut.

    (B, in_channels, H, W) → (B, out_channels, H/stride, W/stride); ``mid_channels`` is the narrow width.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        residual: bool = True,
    ) -> None:
        super().__init__()
        _check_channels(in_channels=in_channels, mid_channels=mid_channels, out_channels=out_channels)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            norm_layer(mid_channels),
            nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False),
            norm_layer(mid_channels),
            nn.ReLU(),
            nn.Conv2d(mid_channels, out_channels, 1, bias=False),
            norm_layer(out_channels),
        )
        self.relu = nn.ReLU()
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm_layer, residual)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, "x", ("B", self.in_channels, "H", "W"))
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)
