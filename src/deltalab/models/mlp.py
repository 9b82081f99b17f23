"""Fully connected classifiers: softmax (multinomial logistic) regression and the MLP."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import nn

from deltalab.models.registry import MODELS


class MLP(nn.Sequential):
    """Flatten → [Linear → activation (→ dropout)] × len(hidden) → Linear.

    in_features: input size; hidden_dims: widths of the hidden layers; out_features: output size.
    """

    def __init__(
        self,
        in_features: int,
        hidden_dims: Sequence[int],
        out_features: int,
        activation: Callable[[], nn.Module] = nn.ReLU,
        dropout: float = 0.0,
    ) -> None:
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        widths = [in_features, *hidden_dims]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), activation()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-1], out_features))
        super().__init__(*layers)


@MODELS.register
def softmax(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Softmax regression: one linear layer; train it with cross-entropy."""
    return MLP(math.prod(in_shape), [], num_classes)


@MODELS.register
def mlp(
    in_shape: tuple[int, ...], num_classes: int, hidden_dims: Sequence[int] = (128, 128), dropout: float = 0.0
) -> nn.Module:
    """ReLU MLP with ``hidden_dims`` widths."""
    return MLP(math.prod(in_shape), list(hidden_dims), num_classes, dropout=dropout)
