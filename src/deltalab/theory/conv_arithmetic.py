"""Convolution arithmetic: output size, parameter count, receptive field and jump of a layer stack.

Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (arXiv:1603.07285); the
receptive-field recursion as in Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks" (Distill 2019).

For one layer with kernel K, stride S, padding P and dilation D (effective kernel
K' = D·(K−1)+1), on an input of size W:

    out   = ⌊(W + 2P − K') / S⌋ + 1               (ceil instead of floor with ceil_mode)
    params = K_h·K_w·C_in·C_out / groups + C_out  (pooling has none)
    jump_out = jump_in · S                        (distance in input pixels between adjacent outputs)
    rf_out   = rf_in + (K' − 1) · jump_in         (so a stride-1 stack of L K×K convs sees 1 + L(K−1))
    start_out = start_in + ((K' − 1)/2 − P) · jump_in   (input coordinate of output 0's centre)

Departures: none; torch's ``ceil_mode`` rule (the last window must start inside the input or the
left padding) is applied as torch does, so that the calculator and torch agree everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

KINDS = ("conv", "maxpool", "avgpool")


@dataclass(frozen=True)
class LayerSpec:
    """One conv or pooling layer of a stack (square kernels; the same rule holds per axis)."""

    kind: str = "conv"
    """'conv', 'maxpool' or 'avgpool'"""
    kernel_size: int = 3
    """K"""
    stride: int = 1
    """S"""
    padding: int = 0
    """P (zero padding on both sides)"""
    dilation: int = 1
    """D (conv and max-pool only)"""
    in_channels: int = 1
    """C_in (conv only)"""
    out_channels: int = 1
    """C_out (conv only)"""
    bias: bool = True
    """conv has a bias per output channel"""
    groups: int = 1
    """grouped convolution: C_in and C_out must be divisible by it"""
    ceil_mode: bool = False
    """pooling: round the output size up (torch's rule)"""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("kernel_size", "stride", "dilation", "groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding}")
        if self.kind == "avgpool" and self.dilation != 1:
            raise ValueError(f"average pooling has no dilation, got dilation={self.dilation}")
        if self.kind != "conv" and 2 * self.padding > self.kernel_size:
            raise ValueError(
                f"pooling padding must be <= kernel_size/2 (torch's rule), got padding={self.padding} "
                f"for kernel_size={self.kernel_size}"
            )
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"channels ({self.in_channels}, {self.out_channels}) must be divisible by groups={self.groups}"
            )

    @property
    def effective_kernel(self) -> int:
        """K' = D·(K−1) + 1, the span of a dilated kernel."""
        return self.dilation * (self.kernel_size - 1) + 1


def output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 (ceil with ``ceil_mode``, dropping a window that would start
    in the right padding, as torch does). Raises ValueError when the kernel does not fit."""
    span = size + 2 * padding - dilation * (kernel_size - 1) - 1
    if span < 0:
        raise ValueError(
            f"kernel (effective size {dilation * (kernel_size - 1) + 1}) does not fit an input of size "
            f"{size} with padding {padding}"
        )
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_params(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, ...],
    bias: bool = True,
    groups: int = 1,
) -> int:
    """K_h·K_w·C_in·C_out/groups (+ C_out with a bias); ``kernel_size`` may be an int (square) or a tuple."""
    ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    return math.prod(ks) * in_channels * out_channels // groups + (out_channels if bias else 0)


def layer_params(layer: LayerSpec, ndim: int = 2) -> int:
    """Parameters of one layer (``ndim`` spatial dimensions); pooling has none."""
    if layer.kind != "conv":
        return 0
    k = (layer.kernel_size,) * ndim
    return conv_params(layer.in_channels, layer.out_channels, k, layer.bias, layer.groups)


@dataclass(frozen=True)
class StackGeometry:
    """What one position of a stack's output sees: per layer output size, jump, receptive field, start."""

    sizes: tuple[int, ...]
    jumps: tuple[int, ...]
    receptive_fields: tuple[int, ...]
    starts: tuple[float, ...]
    params: int

    @property
    def receptive_field(self) -> int:
        return self.receptive_fields[-1] if self.receptive_fields else 1

    @property
    def jump(self) -> int:
        return self.jumps[-1] if self.jumps else 1


def stack_geometry(layers: Sequence[LayerSpec], size: int, ndim: int = 2) -> StackGeometry:
    """Sizes, jumps, receptive fields and centres after each layer of ``layers`` on an input of ``size``."""
    sizes, jumps, rfs, starts = [], [], [], []
    w, j, r, s = size, 1, 1, 0.0
    params = 0
    for layer in layers:
        k = layer.effective_kernel
        w = output_size(w, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        r = r + (k - 1) * j
        s = s + ((k - 1) / 2 - layer.padding) * j
        j = j * layer.stride
        params += layer_params(layer, ndim)
        sizes.append(w)
        jumps.append(j)
        rfs.append(r)
        starts.append(s)
    return StackGeometry(tuple(sizes), tuple(jumps), tuple(rfs), tuple(starts), params)


def stride1_receptive_field(num_layers: int, kernel_size: int) -> int:
    """1 + L(K−1): a stride-1, undilated stack of L K×K layers."""
    if num_layers < 0 or kernel_size < 1:
        raise ValueError(f"need num_layers >= 0 and kernel_size >= 1, got {num_layers}, {kernel_size}")
    return 1 + num_layers * (kernel_size - 1)
