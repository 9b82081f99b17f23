"""Rotary position embeddings (RoPE).

Su, Lu, Pan, Murtadha, Wen, Liu, "RoFormer: Enhanced Transformer with Rotary Position Embedding",
arXiv:2104.09864.

Legend: B batch, H heads, T time, D head dim (even).

Each pair of channels (x_{2i}, x_{2i+1}) of a query or key at position m is rotated by the angle
m·θ_i with θ_i = base^{-2i/D}:

    R(x, m)_{2i}   = x_{2i} cos(mθ_i) − x_{2i+1} sin(mθ_i)
    R(x, m)_{2i+1} = x_{2i} sin(mθ_i) + x_{2i+1} cos(mθ_i)

so that ⟨R(q, m), R(k, n)⟩ = qᵀ R_{n−m} k depends on the offset n − m only. No parameters.

Departures:
1. Interleaved pairs (2i, 2i+1) as in the paper; GPT-NeoX/LLaMA code rotates halves (i, i + D/2),
   which is the same map up to a fixed permutation of the channels.
2. cos/sin are cached in float64 as non-persistent buffers (not in ``state_dict``) and grown on demand, so
   any length and any ``offset`` (incremental decoding) works.
"""

from __future__ import annotations

import torch
from torch import nn

from deltalab.nn.shapes import check_shape


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs of ``x`` (..., T, D) by angles with ``cos``/``sin`` (T, D/2)."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (..., T, D/2) each
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (..., T, D/2, 2)
    return out.flatten(-2)  # (..., T, D)


class RotaryEmbedding(nn.Module):
    """Apply RoPE to queries or keys of shape (..., T, D); positions start at ``offset``.

    head_dim: D, must be even. base: θ base (10000 in the paper). max_len: initial cache length
    (the cache grows when a longer sequence or a larger offset arrives).
    """

    def __init__(self, head_dim: int, base: float = 10000.0, max_len: int = 512) -> None:
        super().__init__()
        if head_dim < 2 or head_dim % 2:
            raise ValueError(f"RoPE needs an even head_dim >= 2, got {head_dim}")
        if base <= 1:
            raise ValueError(f"base must be > 1, got {base}")
        self.head_dim = head_dim
        self.base = float(base)
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (D/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("cos_cached", torch.empty(0), persistent=False)
        self.register_buffer("sin_cached", torch.empty(0), persistent=False)
        self._build(max_len)

    def _build(self, length: int) -> None:
        pos = torch.arange(length, dtype=torch.float64, device=self.inv_freq.device)
        angles = torch.outer(pos, self.inv_freq)  # (T, D/2), float64 kept in float64, cast on use
        self.cos_cached = angles.cos()
        self.sin_cached = angles.sin()

    def cos_sin(self, length: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for positions offset .. offset+length-1, each (length, D/2)."""
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        if offset + length > self.cos_cached.shape[0]:
            self._build(max(2 * self.cos_cached.shape[0], offset + length))
        return self.cos_cached[offset : offset + length], self.sin_cached[offset : offset + length]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        check_shape(x, "x", (..., "T", self.head_dim))
        cos, sin = self.cos_sin(x.shape[-2], offset)
        return rotate_pairs(x, cos.to(x.dtype), sin.to(x.dtype))

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base:g}"
