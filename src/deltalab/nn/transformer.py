"""The pre-norm transformer block and a stack of them.

Vaswani et al., "Attention Is All You Need", arXiv:1706.03762; pre-norm placement after Xiong et al.,
"On Layer Normalization in the Transformer Architecture", arXiv:2002.04745.

Legend: B batch, T time, E embed dim.

    x ← x + Dropout(MHA(LN₁(x)))
    x ← x + Dropout(MLP(LN₂(x))),   MLP(x) = W₂ GELU(W₁ x + b₁) + b₂,  W₁: (mlp_ratio·E, E)

Departures:
1. Pre-norm (as GPT-2 and ViT), not the paper's post-norm: it trains without warm-up at these sizes.
2. ``mlp_ratio=0`` drops the MLP (attention-only blocks, for circuit analysis) and
   ``norm=False`` drops the LayerNorms, so the residual stream is a plain sum of head outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deltalab.nn.attention import MultiheadAttention
from deltalab.nn.shapes import check_shape


@dataclass
class BlockConfig:
    """One transformer block."""

    embed_dim: int = 64
    """E, the residual stream width"""
    num_heads: int = 4
    """attention heads (must divide embed_dim)"""
    mlp_ratio: float = 4.0
    """MLP hidden width / E; 0 makes an attention-only block"""
    dropout: float = 0.0
    """dropout on attention weights and on each residual branch"""
    norm: bool = True
    """pre-norm LayerNorms (False: identity, for exact circuit decompositions)"""
    rope: bool = False
    """rotary position embeddings inside attention"""
    bias: bool = True
    """biases in the projections"""

    def __post_init__(self) -> None:
        if self.mlp_ratio < 0:
            raise ValueError(f"mlp_ratio must be >= 0, got {self.mlp_ratio}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class TransformerBlock(nn.Module):
    """Pre-norm block: (B, T, E) → (B, T, E). Mask arguments pass through to the attention."""

    def __init__(self, cfg: BlockConfig) -> None:
        super().__init__()
        e = cfg.embed_dim
        self.cfg = cfg
        self.norm1: nn.Module = nn.LayerNorm(e) if cfg.norm else nn.Identity()
        self.attn = MultiheadAttention(e, cfg.num_heads, dropout=cfg.dropout, bias=cfg.bias, rope=cfg.rope)
        self.drop = nn.Dropout(cfg.dropout)
        hidden = int(round(cfg.mlp_ratio * e))
        self.norm2: nn.Module | None = None
        self.mlp: nn.Module | None = None
        if hidden:
            self.norm2 = nn.LayerNorm(e) if cfg.norm else nn.Identity()
            self.mlp = nn.Sequential(
                nn.Linear(e, hidden, bias=cfg.bias), nn.GELU(), nn.Linear(hidden, e, bias=cfg.bias)
            )

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        check_shape(x, "x", ("B", "T", self.attn.embed_dim))
        x = x + self.drop(
            self.attn(
                self.norm1(x), key_padding_mask=key_padding_mask, attn_mask=attn_mask, is_causal=is_causal
            )
        )
        if self.mlp is not None and self.norm2 is not None:
            x = x + self.drop(self.mlp(self.norm2(x)))
        return x


class TransformerStack(nn.Module):
    """``num_layers`` blocks, then a final LayerNorm (identity when ``cfg.norm`` is False).

    (B, T, E) → (B, T, E).
    """

    def __init__(self, cfg: BlockConfig, num_layers: int) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(num_layers))
        self.norm: nn.Module = nn.LayerNorm(cfg.embed_dim) if cfg.norm else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, key_padding_mask=key_padding_mask, attn_mask=attn_mask, is_causal=is_causal)
        return self.norm(x)
