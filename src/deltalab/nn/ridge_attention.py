"""Attention as ridge regression over key–value pairs, batch and incremental (Sherman–Morrison).

Context: the "attention as regression" view of linear attention and fast-weight memories
(Schlag, Irie, Schmidhuber, "Linear Transformers Are Secretly Fast Weight Programmers",
arXiv:2102.11174; von Oswald et al., "Transformers learn in-context by gradient descent",
arXiv:2212.07677). Sherman & Morrison (1950) for the rank-one update.

Legend: B batch dims (any), N pairs, T queries, D key dim, M value dim.

Fit the linear map W (D, M) that best sends keys to values, then read it out at the queries:

    W = argmin_W ‖K W − V‖² + λ‖W‖² = (KᵀK + λI)⁻¹ KᵀV,    out = Q W        (batch: one solve)

Adding one pair (k, v) is a rank-one update of A = KᵀK + λI. With P = A⁻¹ (P₀ = I/λ, exact):

    u = P k;   P ← P − u uᵀ / (1 + kᵀu);   W ← W + P k (vᵀ − kᵀW)          O(D² + D·M) per pair

Departures:
1. The batch form solves the normal equations with ``torch.linalg.solve`` (Cholesky-friendly,
   never an explicit inverse); the incremental form carries P, which starts exactly at I/λ and is
   only ever changed by the rank-one formula (recursive least squares).
2. No softmax, no 1/√D: this is the regression readout, not softmax attention.
"""

from __future__ import annotations

import torch


def _check(k: torch.Tensor, v: torch.Tensor, lam: float) -> None:
    if lam <= 0:
        raise ValueError(f"ridge strength lam must be > 0, got {lam}")
    if k.dim() < 2 or k.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            f"expected keys (..., N, D) and values (..., N, M), got {tuple(k.shape)} and {tuple(v.shape)}"
        )


def ridge_weights(k: torch.Tensor, v: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """W = (KᵀK + λI)⁻¹ KᵀV by one solve: (..., N, D), (..., N, M) → (..., D, M)."""
    _check(k, v, lam)
    d = k.shape[-1]
    eye = torch.eye(d, dtype=k.dtype, device=k.device)
    a = k.transpose(-2, -1) @ k + lam * eye  # (..., D, D)
    return torch.linalg.solve(a, k.transpose(-2, -1) @ v)  # (..., D, M)


def ridge_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Read the ridge map out at the queries: (..., T, D), (..., N, D), (..., N, M) → (..., T, M)."""
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same dim D, got {tuple(q.shape)} and {tuple(k.shape)}")
    return q @ ridge_weights(k, v, lam)


class IncrementalRidge:
    """Ridge solution maintained one key–value pair at a time (recursive least squares).

    key_dim: D; value_dim: M; lam: λ > 0; batch_shape: leading dims of every key/value;
    ``update(k (..., D), v (..., M))`` costs O(D² + D·M); ``weight`` (..., D, M) equals
    :func:`ridge_weights` of all pairs seen so far.
    """

    def __init__(
        self,
        key_dim: int,
        value_dim: int,
        lam: float = 1.0,
        batch_shape: tuple[int, ...] = (),
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> None:
        if lam <= 0:
            raise ValueError(f"ridge strength lam must be > 0, got {lam}")
        if key_dim < 1 or value_dim < 1:
            raise ValueError(f"key_dim and value_dim must be >= 1, got {key_dim} and {value_dim}")
        self.key_dim, self.value_dim, self.lam = key_dim, value_dim, lam
        eye = torch.eye(key_dim, dtype=dtype, device=device)
        self.p = (eye / lam).expand(*batch_shape, key_dim, key_dim).clone()  # (..., D, D) = A⁻¹
        self.weight = torch.zeros(*batch_shape, key_dim, value_dim, dtype=dtype, device=device)  # (..., D, M)
        self.count = 0

    def update(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Add one pair per batch element: k (..., D), v (..., M)."""
        if k.shape[-1] != self.key_dim or v.shape[-1] != self.value_dim or k.shape[:-1] != v.shape[:-1]:
            raise ValueError(
                f"expected k (..., {self.key_dim}) and v (..., {self.value_dim}), got {tuple(k.shape)} and {tuple(v.shape)}"
            )
        if self.p.dim() == 2:  # no batch dims: rank-one updates in place, no D×D temporaries
            u = self.p @ k  # (D,) = P k
            gain = u / (1.0 + k @ u)  # (D,) = P_new k
            residual = v - k @ self.weight  # (M,)
            self.p.addr_(u, gain, alpha=-1.0)
            self.weight.addr_(gain, residual)
            self.count += 1
            return
        u = (self.p @ k.unsqueeze(-1)).squeeze(-1)  # (..., D) = P k
        denom = 1.0 + (k * u).sum(-1, keepdim=True)  # (..., 1)
        self.p = self.p - u.unsqueeze(-1) * u.unsqueeze(-2) / denom.unsqueeze(-1)
        gain = u / denom  # (..., D) = P_new k
        residual = v - (k.unsqueeze(-2) @ self.weight).squeeze(-2)  # (..., M)
        self.weight = self.weight + gain.unsqueeze(-1) * residual.unsqueeze(-2)
        self.count += 1

    def query(self, q: torch.Tensor) -> torch.Tensor:
        """(..., T, D) → (..., T, M)."""
        return q @ self.weight
