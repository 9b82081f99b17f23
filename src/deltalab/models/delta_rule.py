"""A one-hidden-layer network trained by the hand-written generalized delta rule (backprop).

Written by hand because the rule is the lesson; :meth:`DeltaRuleMLP.to_torch` builds the concise
twin (``nn.Sequential`` with the same weights) whose autograd gradients the claim compares with.

    a_j = Σ_i w_ji x_i + b_j,   z_j = g(a_j) = σ(a_j)             hidden (sigmoid)
    y_k = softmax_k(Σ_j v_kj z_j + c_k)                            output
    E   = −Σ_k t_k log y_k  (cross-entropy, summed over the batch, averaged by 1/B)
    δ_k = t_k − y_k                                                output delta
    δ_j = g'(a_j) Σ_k δ_k v_kj,  g'(a) = σ(a)(1 − σ(a))            hidden delta
    Δv_kj = η δ_k z_j,  Δw_ji = η δ_j x_i                          (the update is −η ∂E/∂w)
"""

from __future__ import annotations

import torch
from torch import nn


class DeltaRuleMLP:
    """Weights as plain tensors; ``deltas`` returns −∂E/∂θ by the delta rule (no autograd)."""

    def __init__(
        self,
        in_features: int,
        hidden_dim: int,
        out_features: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if min(in_features, hidden_dim, out_features) < 1:
            raise ValueError(f"sizes must be >= 1, got {in_features}, {hidden_dim}, {out_features}")
        s1, s2 = in_features**-0.5, hidden_dim**-0.5
        self.w = torch.randn(hidden_dim, in_features, generator=generator, dtype=dtype) * s1  # (H, F)
        self.b = torch.zeros(hidden_dim, dtype=dtype)
        self.v = torch.randn(out_features, hidden_dim, generator=generator, dtype=dtype) * s2  # (K, H)
        self.c = torch.zeros(out_features, dtype=dtype)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden activations z (B, H) and output probabilities y (B, K)."""
        z = torch.sigmoid(x @ self.w.T + self.b)
        y = torch.softmax(z @ self.v.T + self.c, dim=1)
        return z, y

    def deltas(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """−∂E/∂θ for the batch mean cross-entropy; ``target`` holds class indices (B,)."""
        z, y = self.forward(x)
        t = torch.nn.functional.one_hot(target, y.shape[1]).to(y.dtype)
        B = len(x)
        d_out = t - y  # (B, K)
        d_hid = z * (1 - z) * (d_out @ self.v)  # (B, H)
        return {"w": d_hid.T @ x / B, "b": d_hid.sum(0) / B, "v": d_out.T @ z / B, "c": d_out.sum(0) / B}

    def step(self, x: torch.Tensor, target: torch.Tensor, lr: float) -> None:
        for name, delta in self.deltas(x, target).items():
            getattr(self, name).add_(lr * delta)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)[1].argmax(dim=1)

    def to_torch(self) -> nn.Sequential:
        """The concise twin: Linear → Sigmoid → Linear (logits) with these weights."""
        H, F = self.w.shape
        K = self.v.shape[0]
        net = nn.Sequential(nn.Linear(F, H), nn.Sigmoid(), nn.Linear(H, K)).to(self.w.dtype)
        with torch.no_grad():
            net[0].weight.copy_(self.w)
            net[0].bias.copy_(self.b)
            net[2].weight.copy_(self.v)
            net[2].bias.copy_(self.c)
        return net
