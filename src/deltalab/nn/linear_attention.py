"""Linear (kernel) attention: non-causal, causal by chunked prefix sums, and its recurrent form.

Katharopoulos, Vyas, Pappas, Fleuret, "Transformers are RNNs: Fast Autoregressive Transformers with
Linear Attention", arXiv:2006.16236.

Legend: B batch, H heads, N time, D key dim, M value dim, F feature dim of φ, C chunk length.

Replace exp(qᵀk) by a kernel φ(q)ᵀφ(k):

    out_i = φ(q_i)ᵀ Σ_j φ(k_j) v_jᵀ / φ(q_i)ᵀ Σ_j φ(k_j)                      (non-causal, O(N))
    S_i = S_{i−1} + φ(k_i) v_iᵀ,  z_i = z_{i−1} + φ(k_i),  out_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i   (causal = RNN)

Feature maps: ``elu_feature_map`` φ(x) = elu(x) + 1 (the paper's); ``polynomial_feature_map`` the
explicit degree-2 map with φ(q)ᵀφ(k) = (qᵀk + 1)², of size (D+1)(D+2)/2:
φ(x) = [1, √2·x_i, x_i², √2·x_i x_j (i<j)].

Departures:
1. The causal form is computed chunk by chunk: inside a chunk of C steps a masked C×C product,
   across chunks the running state (S, z). Memory is O(N·(D+M) + C²) per head, never N×N, and it
   equals the step-by-step recurrence (:func:`linear_attention_step`) up to float rounding.
2. No 1/√D scaling (the kernel replaces the softmax); ``eps`` guards the normalizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

FeatureMap = Callable[[torch.Tensor], torch.Tensor]


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1 > 0, elementwise: (..., D) → (..., D)."""
    return F.elu(x) + 1


def polynomial_feature_map(x: torch.Tensor) -> torch.Tensor:
    """Explicit degree-2 map with φ(q)ᵀφ(k) = (qᵀk + 1)²: (..., D) → (..., (D+1)(D+2)/2)."""
    d = x.shape[-1]
    i, j = torch.triu_indices(d, d, offset=1, device=x.device)
    cross = (2.0**0.5) * x[..., i] * x[..., j]  # (..., D(D−1)/2)
    ones = torch.ones_like(x[..., :1])
    return torch.cat([ones, (2.0**0.5) * x, x * x, cross], dim=-1)


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() < 2 or q.shape != k.shape or k.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            f"expected q, k (..., N, D) of equal shape and v (..., N, M), got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    feature_map: FeatureMap = elu_feature_map,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Non-causal linear attention: (..., N, D), (..., N, D), (..., N, M) → (..., N, M) in O(N)."""
    _check_qkv(q, k, v)
    fq, fk = feature_map(q), feature_map(k)  # (..., N, F)
    kv = fk.transpose(-2, -1) @ v  # (..., F, M)
    z = fk.sum(dim=-2)  # (..., F)
    num = fq @ kv  # (..., N, M)
    den = (fq * z.unsqueeze(-2)).sum(-1, keepdim=True)  # (..., N, 1)
    return num / (den + eps)


def causal_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    feature_map: FeatureMap = elu_feature_map,
    eps: float = 1e-6,
    chunk_size: int = 64,
) -> torch.Tensor:
    """Causal linear attention by chunked prefix sums: same shapes as :func:`linear_attention`."""
    _check_qkv(q, k, v)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    fq, fk = feature_map(q), feature_map(k)  # (..., N, F)
    n = q.shape[-2]
    s = fk.new_zeros(*fk.shape[:-2], fk.shape[-1], v.shape[-1])  # (..., F, M) running Σ φ(k) vᵀ
    z = fk.new_zeros(*fk.shape[:-2], fk.shape[-1])  # (..., F) running Σ φ(k)
    tril = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril()
    outs = []
    for start in range(0, n, chunk_size):
        qc, kc, vc = (
            fq[..., start : start + chunk_size, :],
            fk[..., start : start + chunk_size, :],
            v[..., start : start + chunk_size, :],
        )
        c = qc.shape[-2]
        a = (qc @ kc.transpose(-2, -1)).masked_fill(~tril[:c, :c], 0.0)  # (..., C, C) within the chunk
        num = a @ vc + qc @ s  # (..., C, M)
        den = a.sum(-1, keepdim=True) + (qc * z.unsqueeze(-2)).sum(-1, keepdim=True)  # (..., C, 1)
        outs.append(num / (den + eps))
        s = s + kc.transpose(-2, -1) @ vc
        z = z + kc.sum(-2)
    return torch.cat(outs, dim=-2)  # (..., N, M)


def softmax_attention_materialized(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention that builds the N×N weight matrix: (..., N, D) → (..., N, M).

    The O(N²)-memory baseline that linear attention is compared with (SDPA computes the same
    numbers without materializing the matrix where a fused kernel exists)."""
    _check_qkv(q, k, v)
    return ((q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])).softmax(-1) @ v


def causal_linear_attention_quadratic(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    feature_map: FeatureMap = elu_feature_map,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Reference: the masked N×N kernel matrix, normalized by rows (O(N²) memory; tests only)."""
    _check_qkv(q, k, v)
    a = feature_map(q) @ feature_map(k).transpose(-2, -1)  # (..., N, N)
    a = a.tril()
    return (a @ v) / (a.sum(-1, keepdim=True) + eps)


def linear_attention_step(
    q_t: torch.Tensor,
    k_t: torch.Tensor,
    v_t: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    feature_map: FeatureMap = elu_feature_map,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One recurrent step: q_t, k_t (..., D), v_t (..., M), state (S (..., F, M), z (..., F)) → out (..., M)."""
    fq, fk = feature_map(q_t), feature_map(k_t)  # (..., F)
    if state is None:
        s = fk.new_zeros(*fk.shape, v_t.shape[-1])
        z = fk.new_zeros(fk.shape)
    else:
        s, z = state
    s = s + fk.unsqueeze(-1) * v_t.unsqueeze(-2)  # (..., F, M)
    z = z + fk
    out = (fq.unsqueeze(-2) @ s).squeeze(-2) / ((fq * z).sum(-1, keepdim=True) + eps)
    return out, (s, z)


class LinearAttention(nn.Module):
    """Multi-head linear attention with elu+1 features: (B, N, E) → (B, N, E).

    embed_dim: E; num_heads: H (divides E); causal: prefix-sum (RNN) form; chunk_size: C of the
    causal form; feature_map: φ (default elu+1).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        causal: bool = False,
        chunk_size: int = 64,
        feature_map: FeatureMap = elu_feature_map,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"embed_dim must be a positive multiple of num_heads, got {embed_dim} and {num_heads}"
            )
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.causal, self.chunk_size, self.feature_map = causal, chunk_size, feature_map
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"expected (B, N, {self.embed_dim}), got shape {tuple(x.shape)}")
        b, n, _ = x.shape
        q, k, v = (
            t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2) for t in self.in_proj(x).chunk(3, -1)
        )
        if self.causal:
            out = causal_linear_attention(q, k, v, self.feature_map, chunk_size=self.chunk_size)
        else:
            out = linear_attention(q, k, v, self.feature_map)  # (B, H, N, D)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.embed_dim))
