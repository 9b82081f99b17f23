"""Projection and prediction heads: the small MLPs put on top of an encoder in SimCLR and BYOL.

SimCLR (arXiv:2002.05709, §2.1) maps h → z = W₂·ReLU(W₁h) and shows that probing h, not z, is what
works; BYOL (arXiv:2006.07733, §3.3) uses Linear → BatchNorm → ReLU → Linear for both the projector
and the predictor. Shapes: (B, in_features) → (B, out_features).

Departures: widths are scaled to 8×8 digits (tens to hundreds of units instead of 2048/4096).
"""

from __future__ import annotations

from torch import nn


class MLPHead(nn.Sequential):
    """Linear → (BatchNorm1d) → ReLU → Linear: a projector g(h) or a predictor q(z)."""

    def __init__(
        self, in_features: int, hidden_features: int, out_features: int, batch_norm: bool = True
    ) -> None:
        if min(in_features, hidden_features, out_features) < 1:
            raise ValueError(f"head sizes must be >= 1, got {in_features}, {hidden_features}, {out_features}")
        norm: nn.Module = nn.BatchNorm1d(hidden_features) if batch_norm else nn.Identity()
        super().__init__(
            nn.Linear(in_features, hidden_features), norm, nn.ReLU(), nn.Linear(hidden_features, out_features)
        )
