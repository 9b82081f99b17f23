"""Transformer sequence models: an encoder and a decoder-only (causal) language model.

Vaswani et al., "Attention Is All You Need", arXiv:1706.03762; the decoder-only LM as in GPT
(Radford et al. 2018). Built from :class:`deltalab.nn.transformer.TransformerStack`.

Legend: B batch, T time, E embed dim, V vocabulary, F input features, K classes.

    h₀ = Embed(x) + P[:T]        (P learned; omitted for ``pos="rope"`` or ``pos="none"``)
    h  = Stack(h₀)               (causal mask when ``causal``)
    logits = h W_out + b          (B, T, out_dim)

Registered for ``deltalab train`` (factory ``(in_shape, num_classes)``): ``transformer-encoder``
(mean-pooled) and ``decoder-only`` (causal, reads the last position). Inputs (B, L) become L tokens
of one feature; (B, C, L) L tokens of C features; (B, C, H, W) H·W tokens of C features.

Departures:
1. Pre-norm blocks (see ``nn/transformer.py``); no weight tying between embedding and output.
2. ``pos="none"`` (NoPE) relies on the causal mask alone to learn positions (Haviv et al. 2022,
   arXiv:2203.16634).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.registry import MODELS
from deltalab.nn.transformer import BlockConfig, TransformerStack

POSITIONS = ("learned", "rope", "none")


@dataclass
class TransformerConfig:
    """A sequence transformer."""

    vocab_size: int = 16
    """token vocabulary V (0: float inputs with in_features channels)"""
    in_features: int = 0
    """channels F of float inputs (used when vocab_size is 0)"""
    out_dim: int = 0
    """output size per position (0: vocab_size)"""
    max_len: int = 128
    """longest sequence the learned positions cover"""
    embed_dim: int = 64
    """E"""
    num_heads: int = 4
    """attention heads"""
    num_layers: int = 2
    """blocks"""
    mlp_ratio: float = 4.0
    """MLP width / E (0: attention-only)"""
    dropout: float = 0.0
    """dropout in the blocks"""
    causal: bool = False
    """causal mask (decoder-only LM) or full attention (encoder)"""
    pos: str = "learned"
    """position encoding: 'learned' absolute, 'rope' rotary, or 'none' (NoPE)"""
    norm: bool = True
    """LayerNorms in the blocks"""

    def __post_init__(self) -> None:
        if self.pos not in POSITIONS:
            raise ValueError(f"pos must be one of {POSITIONS}, got {self.pos!r}")
        if self.vocab_size < 0 or self.in_features < 0 or (self.vocab_size == 0) == (self.in_features == 0):
            raise ValueError(
                f"set exactly one of vocab_size (tokens) or in_features (floats), got "
                f"vocab_size={self.vocab_size}, in_features={self.in_features}"
            )
        if self.out_dim == 0:
            if self.vocab_size == 0:
                raise ValueError("out_dim must be set for float inputs")
            self.out_dim = self.vocab_size
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")

    def block(self) -> BlockConfig:
        return BlockConfig(
            self.embed_dim, self.num_heads, self.mlp_ratio, self.dropout, self.norm, rope=self.pos == "rope"
        )


class SequenceTransformer(nn.Module):
    """Tokens (B, T) long or features (B, T, F) float → per-position outputs (B, T, out_dim)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed: nn.Module = (
            nn.Embedding(cfg.vocab_size, cfg.embed_dim)
            if cfg.vocab_size
            else nn.Linear(cfg.in_features, cfg.embed_dim)
        )
        # N(0, 1) like nn.Embedding's tokens: at GPT's 0.02 the positions are drowned by the tokens
        # and position-routed tasks (reversal) stall for hundreds of steps
        self.pos = nn.Parameter(torch.randn(cfg.max_len, cfg.embed_dim)) if cfg.pos == "learned" else None
        self.stack = TransformerStack(cfg.block(), cfg.num_layers)
        self.head = nn.Linear(cfg.embed_dim, cfg.out_dim)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        want = 2 if self.cfg.vocab_size else 3
        if x.dim() != want:
            kind = "(B, T) token ids" if want == 2 else f"(B, T, {self.cfg.in_features}) floats"
            raise ValueError(f"expected {kind}, got shape {tuple(x.shape)}")
        t = x.shape[1]
        h = self.embed(x)  # (B, T, E)
        if self.pos is not None:
            if t > self.cfg.max_len:
                raise ValueError(
                    f"sequence length {t} exceeds max_len={self.cfg.max_len} of the learned positions"
                )
            h = h + self.pos[:t]
        h = self.stack(h, key_padding_mask=key_padding_mask, is_causal=self.cfg.causal)  # (B, T, E)
        return self.head(h)  # (B, T, out_dim)


def as_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, L) → (B, L, 1); (B, C, L) → (B, L, C); (B, C, H, W) → (B, H·W, C)."""
    if x.dim() == 2:
        return x.unsqueeze(-1)
    if x.dim() >= 3:
        return x.flatten(2).transpose(1, 2)
    raise ValueError(f"expected (B, L), (B, C, L) or (B, C, H, W) inputs, got shape {tuple(x.shape)}")


class SequenceClassifier(nn.Module):
    """Classify (B, *in_shape) float inputs read as a sequence of tokens: (B, K) logits.

    pool: 'mean' over positions (encoder) or 'last' position (decoder-only).
    """

    def __init__(self, cfg: TransformerConfig, pool: str) -> None:
        super().__init__()
        if pool not in ("mean", "last"):
            raise ValueError(f"pool must be 'mean' or 'last', got {pool!r}")
        self.pool = pool
        self.body = SequenceTransformer(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(as_tokens(x))  # (B, T, K)
        return out.mean(1) if self.pool == "mean" else out[:, -1]


def _classifier_config(
    in_shape: tuple[int, ...], num_classes: int, causal: bool, **kw: object
) -> TransformerConfig:
    if len(in_shape) == 1:
        features, length = 1, in_shape[0]
    else:
        features, length = in_shape[0], math.prod(in_shape[1:])
    return TransformerConfig(
        vocab_size=0,
        in_features=features,
        out_dim=num_classes,
        max_len=length,
        causal=causal,
        **kw,  # type: ignore[arg-type]
    )


@MODELS.register
def transformer_encoder(
    in_shape: tuple[int, ...], num_classes: int, embed_dim: int = 64, num_heads: int = 4, num_layers: int = 2
) -> nn.Module:
    """Transformer encoder over the input read as tokens, mean-pooled."""
    cfg = _classifier_config(
        in_shape, num_classes, False, embed_dim=embed_dim, num_heads=num_heads, num_layers=num_layers
    )
    return SequenceClassifier(cfg, "mean")


@MODELS.register
def decoder_only(
    in_shape: tuple[int, ...], num_classes: int, embed_dim: int = 64, num_heads: int = 4, num_layers: int = 2
) -> nn.Module:
    """Causal (decoder-only) transformer over the input read as tokens; classifies from the last one."""
    cfg = _classifier_config(
        in_shape, num_classes, True, embed_dim=embed_dim, num_heads=num_heads, num_layers=num_layers
    )
    return SequenceClassifier(cfg, "last")
