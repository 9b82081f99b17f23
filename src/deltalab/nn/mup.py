"""μP layers: the readout with a 1/width multiplier, μP attention scaling, and a μP-ready MLP.

Yang, Hu et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer" (arXiv:2203.03466), Table 3 / Table 8; the layer follows the ``mup`` package's
``MuReadout`` (not a dependency: it pulls a CUDA torch, see PITFALLS.md).

With width multiplier m = width / base_width (m = 1 at the base width):

    readout:    y = W (x · output_mult / m) + b,   W initialised as nn.Linear, then × √m
                (so the effective weight has variance ∝ 1/width², as μP's Table 3 asks)
    attention:  scores = q·k · √d_base / d   (1/d scaling, equal to 1/√d at the base head dim)

At m = 1 every multiplier is 1 and the layers equal standard parametrization (SP) exactly.
The learning-rate side of μP (Adam: hidden matrices' rate / m) is in :mod:`deltalab.optim.mup`.

Departures from the mup package:
1. The width multiplier is given at construction (``width_mult``) instead of being attached to
   every parameter by ``set_base_shapes``; :func:`deltalab.optim.mup.mup_param_groups` reads
   the base shapes for the learning rates.
2. ``attention_scale`` is √d_base / d (mup: attn_mult / d), so that the base equals SP exactly.
3. Hidden-layer biases of :class:`MupMLP` keep ``nn.Linear``'s init, U(±1/√width), so their scale
   at init shrinks as 1/√width; μP treats biases as vector-like (Θ(1) at init) and the ``mup``
   package keeps them width-independent. ``mup_bias_init=True`` (used by both μP
   claims) draws them from U(±1/√base_width) instead, as the ``mup`` package does; the default
   keeps the old init (the difference vanishes at the base width; a test pins both).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deltalab.nn.shapes import check_shape


class MuReadout(nn.Linear):
    """The μP output layer: ``F.linear(x · output_mult / width_mult, W, b)``.

    width_mult: width / base width of ``in_features``; output_mult: a tunable constant;
    zero_init: start W (and b) at zero, which μP allows and often prefers.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        width_mult: float = 1.0,
        output_mult: float = 1.0,
        zero_init: bool = False,
    ) -> None:
        if not width_mult > 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult!r}")
        self.width_mult, self.output_mult, self.zero_init = width_mult, output_mult, zero_init
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            if self.zero_init:
                self.weight.zero_()
                if self.bias is not None:
                    self.bias.zero_()
            elif self.width_mult != 1.0:
                self.weight.mul_(math.sqrt(self.width_mult))
                if self.bias is not None:
                    self.bias.mul_(math.sqrt(self.width_mult))

    def forward(self, x: Tensor) -> Tensor:  # (B, in) -> (B, out)
        check_shape(x, "x", (..., self.in_features))
        return F.linear(x * (self.output_mult / self.width_mult), self.weight, self.bias)


def attention_scale(head_dim: int, base_head_dim: int | None = None) -> float:
    """The score multiplier: 1/√d under SP (``base_head_dim=None``), √d_base / d under μP."""
    if head_dim < 1:
        raise ValueError(f"head_dim must be >= 1, got {head_dim}")
    if base_head_dim is None:
        return 1.0 / math.sqrt(head_dim)
    if base_head_dim < 1:
        raise ValueError(f"base_head_dim must be >= 1, got {base_head_dim}")
    return math.sqrt(base_head_dim) / head_dim


class MupMLP(nn.Sequential):
    """Flatten → Linear(in, width) → act → [Linear(width, width) → act] × (num_layers − 1) → readout.

    mup=True: the readout is a :class:`MuReadout` with width_mult = width / base_width;
    mup=False: a plain ``nn.Linear`` (standard parametrization). Same seed and width = base_width
    give identical models either way. mup_bias_init (μP only): hidden biases ~ U(±1/√base_width).
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        out_features: int,
        num_layers: int = 2,
        base_width: int = 64,
        mup: bool = True,
        activation: Callable[[], nn.Module] = nn.ReLU,
        zero_init_readout: bool = False,
        mup_bias_init: bool = False,
    ) -> None:
        if num_layers < 1 or width < 1 or base_width < 1:
            raise ValueError(
                f"num_layers, width, base_width must be >= 1, got {num_layers}, {width}, {base_width}"
            )
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(in_features, width), activation()]
        for _ in range(num_layers - 1):
            layers += [nn.Linear(width, width), activation()]
        if mup:
            layers.append(
                MuReadout(width, out_features, width_mult=width / base_width, zero_init=zero_init_readout)
            )
        else:
            layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)
        self.in_features = in_features
        if mup and mup_bias_init:  # hidden biases Θ(1) at init, as at the base width (Departure 3)
            with torch.no_grad():
                for layer in list(self)[3:-1:2]:  # the width × width Linears
                    layer.bias.mul_(math.sqrt(width / base_width))  # U(±1/√width) → U(±1/√base_width)

    def forward(self, x: Tensor) -> Tensor:  # (B, *) flattened to (B, in_features) -> (B, out)
        check_shape(x.flatten(1), "x flattened", ("B", self.in_features))
        return super().forward(x)
