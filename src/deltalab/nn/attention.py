"""Multi-head scaled dot-product attention on ``F.scaled_dot_product_attention``.

Vaswani et al., "Attention Is All You Need", arXiv:1706.03762.

Legend: B batch, T query time, S key time, E embed dim, H heads, D = E/H head dim.

    head_h = softmax(Q_h K_hᵀ / √D + mask) V_h,   Q_h = X W_Q,h,  K_h = X W_K,h,  V_h = X W_V,h
    MHA(X) = concat_h(head_h) W_Oᵀ + b_O = Σ_h head_h W_O[:, hD:(h+1)D]ᵀ + b_O

The second form (sum of per-head projections) is what :meth:`MultiheadAttention.head_outputs`
returns, one term per head, for circuit analysis; :func:`attention_weights` gives the softmax
weights. The fast path (``forward``) never materializes the weights: it calls SDPA.

Arguments mirror ``torch.nn.MultiheadAttention(batch_first=True)`` so the two can be swapped:
``key_padding_mask`` (B, S) bool, True = ignore that key; ``attn_mask`` (T, S) or (B·H, T, S) /
(B, H, T, S), bool True = not allowed, or float added to the scores; ``is_causal``.

Departures from torch's module:
1. Optional rotary embeddings (``rope=True``) applied to Q and K after the head split.
2. ``forward`` returns the output only (no weights tuple); weights come from
   :meth:`MultiheadAttention.attention_weights`, which is an explicit (slow) reference path.
3. A query whose keys are all masked attends to nothing: its attention output is zero (so the
   module returns ``out_proj.bias`` there) and its weights row is zero. This is what
   ``F.scaled_dot_product_attention`` returns in torch 2.13 for a boolean or −inf mask; torch's
   ``nn.MultiheadAttention`` gives NaN or not depending on ``need_weights``, so we follow SDPA.
   (An additive ``finfo.min`` mask alone would spread such a row uniformly over the masked keys.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.nn.rope import RotaryEmbedding


def _check_dim(x: torch.Tensor, name: str, embed_dim: int) -> None:
    if x.dim() != 3 or x.shape[-1] != embed_dim:
        raise ValueError(f"{name} must be (B, T, {embed_dim}) (batch_first), got shape {tuple(x.shape)}")


def merge_masks(
    attn_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    is_causal: bool,
    q: torch.Tensor,
    k: torch.Tensor,
) -> torch.Tensor | None:
    """One additive float mask (B, H|1, T, S) for SDPA from torch-MHA-style masks (None: no mask).

    ``q`` (B, H, T, D) and ``k`` (B, H, S, D) give the sizes, dtype and device. Bool masks follow
    ``nn.MultiheadAttention``: True = not allowed.
    """
    if attn_mask is None and key_padding_mask is None and not is_causal:
        return None
    batch, heads, t, s = q.shape[0], q.shape[1], q.shape[2], k.shape[2]
    dtype, device = q.dtype, q.device
    mask = torch.zeros(batch, 1, t, s, dtype=dtype, device=device)
    neg = torch.finfo(dtype).min
    if is_causal:
        causal = torch.ones(t, s, dtype=torch.bool, device=device).triu(s - t + 1)
        mask = torch.where(causal, neg, mask)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            am = attn_mask.view(1, 1, t, s)
        elif attn_mask.dim() == 3:
            am = attn_mask.view(batch, heads, t, s)
        elif attn_mask.dim() == 4:
            am = attn_mask
        else:
            raise ValueError(
                f"attn_mask must be (T, S), (B*H, T, S) or (B, H, T, S), got {tuple(attn_mask.shape)}"
            )
        if am.dtype == torch.bool:
            mask = torch.where(am, neg, mask)
        else:
            mask = mask + am.to(dtype)
    if key_padding_mask is not None:
        if key_padding_mask.shape != (batch, s):
            raise ValueError(
                f"key_padding_mask must be (B, S) = ({batch}, {s}), got {tuple(key_padding_mask.shape)}"
            )
        if key_padding_mask.dtype == torch.bool:
            mask = torch.where(key_padding_mask.view(batch, 1, 1, s), neg, mask)
        else:
            mask = mask + key_padding_mask.view(batch, 1, 1, s).to(dtype)
    return mask


def dead_queries(mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, H|1, T, 1) True where a query may attend to no key at all (every score masked)."""
    if mask is None:
        return None
    return (mask <= torch.finfo(mask.dtype).min).all(dim=-1, keepdim=True)


class MultiheadAttention(nn.Module):
    """Multi-head attention, batch first, on SDPA.

    embed_dim: E; num_heads: H (must divide E); dropout: attention-weight dropout (training only);
    bias: biases on the projections; rope: rotate Q and K with :class:`RotaryEmbedding`;
    rope_base: its θ base.

    Parameters: ``in_proj`` (3E, E) stacks W_Q, W_K, W_V (rows h·D..(h+1)·D of each block are
    head h), ``out_proj`` (E, E) is W_O.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        rope: bool = False,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"embed_dim must be a positive multiple of num_heads, got {embed_dim} and {num_heads}"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.rotary = RotaryEmbedding(self.head_dim, base=rope_base) if rope else None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def project_qkv(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        offset: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-head Q (B, H, T, D), K and V (B, H, S, D); RoPE applied when enabled.

        ``offset`` is the position of the first query (and key) token, for incremental decoding.
        """
        _check_dim(query, "query", self.embed_dim)
        if key is None and value is None:  # self-attention: one fused projection
            q, k, v = self.in_proj(query).chunk(3, dim=-1)  # (B, T, E) each
        else:
            key = query if key is None else key
            value = key if value is None else value
            _check_dim(key, "key", self.embed_dim)
            _check_dim(value, "value", self.embed_dim)
            if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
                raise ValueError(
                    f"query/key/value batch and key/value length must agree, got {tuple(query.shape)}, "
                    f"{tuple(key.shape)}, {tuple(value.shape)}"
                )
            w = self.in_proj.weight.chunk(3, dim=0)
            b = self.in_proj.bias.chunk(3) if self.in_proj.bias is not None else (None, None, None)
            q, k, v = F.linear(query, w[0], b[0]), F.linear(key, w[1], b[1]), F.linear(value, w[2], b[2])
        q, k, v = self._split(q), self._split(k), self._split(v)
        if self.rotary is not None:
            q, k = self.rotary(q, offset), self.rotary(k, offset)
        return q, k, v

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        offset: int = 0,
    ) -> torch.Tensor:
        """(B, T, E) → (B, T, E). ``key``/``value`` default to ``query`` (self-attention)."""
        q, k, v = self.project_qkv(query, key, value, offset)
        p = self.dropout if self.training else 0.0
        if attn_mask is None and key_padding_mask is None:
            # SDPA's is_causal aligns the mask to the top-left; only valid when T == S
            causal = is_causal and q.shape[2] == k.shape[2]
            mask = None if causal or not is_causal else merge_masks(None, None, True, q, k)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        else:
            mask = merge_masks(attn_mask, key_padding_mask, is_causal, q, k)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            out = out.masked_fill(dead_queries(mask), 0.0)  # (B, H, T, D): attends to nothing
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, self.embed_dim))  # (B, T, E)

    def attention_weights(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        offset: int = 0,
    ) -> torch.Tensor:
        """Softmax weights (B, H, T, S), computed explicitly (no dropout)."""
        q, k, _ = self.project_qkv(query, key, value, offset)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, S)
        mask = merge_masks(attn_mask, key_padding_mask, is_causal, q, k)
        if mask is None:
            return scores.softmax(dim=-1)
        return (scores + mask).softmax(dim=-1).masked_fill(dead_queries(mask), 0.0)

    def head_outputs(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        **kw: object,
    ) -> torch.Tensor:
        """Each head's contribution to the output, (B, H, T, E); their sum plus ``out_proj.bias``
        equals :meth:`forward` (no dropout): head_h W_O[:, hD:(h+1)D]ᵀ."""
        weights = self.attention_weights(query, key, value, **kw)  # (B, H, T, S)
        _, _, v = self.project_qkv(query, key, value, int(kw.get("offset", 0)))  # (B, H, S, D)
        heads = weights @ v  # (B, H, T, D)
        w_o = self.out_proj.weight.view(self.embed_dim, self.num_heads, self.head_dim)  # (E, H, D)
        return torch.einsum("bhtd,ehd->bhte", heads, w_o)  # (B, H, T, E)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
