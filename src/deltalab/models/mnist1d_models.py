"""The four baselines of the MNIST-1D table: logistic regression, MLP, CNN and GRU.

Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D" (arXiv:2011.14439). The public
notebook's table: logistic 31.5%, MLP 65.1%, CNN 92.3%, GRU 89.1% test accuracy (the paper
reports 32 / 68 / 94 / 91%). Architectures follow the repository's ``mnist1d/models.py``.

Shapes: B batch, T time steps (40), C channels, H hidden units.

Departures:
1. The GRU is torch's ``nn.GRU`` (bidirectional, hidden 6, every step's state fed to the head) as
   in the notebook; nothing is hand-written here.
2. The factories accept ``(T,)`` or ``(1, T)`` inputs so that ``deltalab train --data mnist1d``
   (flat sequences) and ``load_mnist1d(channels=True)`` both work.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.models.mlp import MLP
from deltalab.models.registry import MODELS


def _seq_len(in_shape: tuple[int, ...]) -> int:
    """T from an input shape ``(T,)`` or ``(1, T)``."""
    if len(in_shape) == 1 or (len(in_shape) == 2 and in_shape[0] == 1):
        return in_shape[-1]
    raise ValueError(f"in_shape must be (T,) or (1, T) for a 1-D signal, got {in_shape}")


class Conv1dNet(nn.Module):
    """Three strided Conv1d+ReLU layers and a linear head on the flattened features.

    Conv1d(1→C, 5, stride 2, pad 1) → Conv1d(C→C, 3, s 2, p 1) → Conv1d(C→C, 3, s 2, p 1) → Linear.
    """

    def __init__(self, seq_len: int, num_classes: int, channels: int = 25) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        t = seq_len
        for k in (5, 3, 3):
            t = (t - k + 2) // 2 + 1
        self.head = nn.Linear(channels * t, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), 1, -1)  # (B, 1, T)
        return self.head(self.features(x).flatten(1))  # (B, C, T/8) -> (B, classes)

    def forward_stacked(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """M nets of this shape at once: ``params`` stacked by ``torch.func.stack_module_state``
        (each (M, *shape)), net m on its own inputs ``x[m]``: (M, B, T) -> (M, B, classes).

        The same function as ``vmap(functional_call(self, ...))``, computed channels-last as
        im2col + one batched matmul per layer (~20% less CPU time than vmap's grouped convolutions
        for grids of small nets; equal to float rounding).
        """
        m, b = x.shape[:2]
        h = x.reshape(m, b, -1, 1)  # (M, B, T, C=1)
        for i, mod in enumerate(self.features):
            if isinstance(mod, nn.ReLU):
                h = torch.relu(h)
                continue
            k, stride, pad = mod.kernel_size[0], mod.stride[0], mod.padding[0]
            w, bias = params[f"features.{i}.weight"], params[f"features.{i}.bias"]  # (M, O, C, k), (M, O)
            cols = F.pad(h, (0, 0, pad, pad)).unfold(2, k, stride)  # (M, B, L', C, k)
            t_out = cols.shape[2]
            h = torch.baddbmm(bias[:, None], cols.reshape(m, b * t_out, -1), w.flatten(2).transpose(1, 2))
            h = h.view(m, b, t_out, -1)  # (M, B, L', O)
        c = h.shape[-1]
        # the head reads (C, L') flattened; here the features are (L', C): permute its weight instead
        w_head = params["head.weight"].unflatten(2, (c, -1)).transpose(2, 3).flatten(2)
        return torch.baddbmm(params["head.bias"][:, None], h.flatten(2), w_head.transpose(1, 2))


class GRUClassifier(nn.Module):
    """``nn.GRU`` over the sequence; every time step's hidden state, concatenated, feeds a linear head."""

    def __init__(
        self, seq_len: int, num_classes: int, hidden_size: int = 6, bidirectional: bool = True
    ) -> None:
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {hidden_size}")
        self.gru = nn.GRU(1, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(seq_len * hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1, 1)  # (B, T, 1)
        h, _ = self.gru(x)  # (B, T, 2H)
        return self.head(h.flatten(1))


@MODELS.register
def mnist1d_logistic(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Logistic (softmax) regression on the raw signal."""
    return MLP(math.prod(in_shape), [], num_classes)


@MODELS.register
def mnist1d_mlp(in_shape: tuple[int, ...], num_classes: int, hidden_dim: int = 100) -> nn.Module:
    """The notebook's MLP: two ReLU layers of 100 units."""
    return MLP(math.prod(in_shape), [hidden_dim, hidden_dim], num_classes)


@MODELS.register
def mnist1d_cnn(in_shape: tuple[int, ...], num_classes: int, channels: int = 25) -> nn.Module:
    """The notebook's CNN: three strided Conv1d layers of 25 channels."""
    return Conv1dNet(_seq_len(in_shape), num_classes, channels)


@MODELS.register
def mnist1d_gru(in_shape: tuple[int, ...], num_classes: int, hidden_size: int = 6) -> nn.Module:
    """The notebook's GRU: bidirectional, hidden 6, all states to the head."""
    return GRUClassifier(_seq_len(in_shape), num_classes, hidden_size)
