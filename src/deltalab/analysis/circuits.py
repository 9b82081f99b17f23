"""Transformer circuits: an attention-only transformer read as a sum of head contributions.

Elhage et al., "A Mathematical Framework for Transformer Circuits" (Anthropic, 2021);
Olsson et al., "In-context Learning and Induction Heads", arXiv:2209.11895.

Legend: B batch, T time, V vocabulary, E residual width, H heads, D head dim, L layers.

Without MLPs and LayerNorms the residual stream is a plain sum:

    x_L = W_E[tok] + P + Σ_l (b_O,l + Σ_h head_{l,h}(x_l)),   logits = x_L W_Uᵀ + b_U

QK circuit of head h: W_Q,hᵀ W_K,h (E, E) (scores = x_i W_Q,hᵀ W_K,h x_jᵀ / √D, plus bias terms);
OV circuit: W_O,h W_V,h (E, E), rank ≤ D — the subspace the head writes.
Prefix-matching score: mean attention, on repeated random tokens, from each token of the repeat to
the token after its earlier occurrence. Copying score: Σλ / Σ|λ| over the eigenvalues of the full
OV circuit W_U W_O,h W_V,h W_E (V, V); near 1 when the head copies tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deltalab.nn.attention import MultiheadAttention


@dataclass
class AttnOnlyConfig:
    """An attention-only transformer (no MLP, no LayerNorm)."""

    vocab_size: int = 16
    """V"""
    max_len: int = 64
    """longest sequence (learned positions)"""
    embed_dim: int = 64
    """E"""
    num_heads: int = 4
    """H per layer"""
    num_layers: int = 2
    """L"""

    def __post_init__(self) -> None:
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")


class AttnOnlyTransformer(nn.Module):
    """Causal attention-only LM: tokens (B, T) → logits (B, T, V)."""

    def __init__(self, cfg: AttnOnlyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.pos = nn.Parameter(torch.randn(cfg.max_len, cfg.embed_dim))
        self.layers = nn.ModuleList(
            MultiheadAttention(cfg.embed_dim, cfg.num_heads) for _ in range(cfg.num_layers)
        )
        self.unembed = nn.Linear(cfg.embed_dim, cfg.vocab_size)

    def forward(self, tokens: torch.Tensor, head_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``head_mask`` (L, H) multiplies each head's contribution (0 ablates it); slow path."""
        if tokens.dim() != 2 or tokens.shape[1] > self.cfg.max_len:
            raise ValueError(
                f"expected (B, T<={self.cfg.max_len}) token ids, got shape {tuple(tokens.shape)}"
            )
        if head_mask is None:
            x = self.embed(tokens) + self.pos[: tokens.shape[1]]  # (B, T, E)
            for attn in self.layers:
                x = x + attn(x, is_causal=True)
            return self.unembed(x)
        return self.unembed(sum(self.residual_terms(tokens, head_mask).values()))

    def residual_terms(
        self, tokens: torch.Tensor, head_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Every term of the final residual stream, each (B, T, E): 'embed', 'pos', 'L{l}.bias',
        'L{l}.H{h}'. Their sum is x_L."""
        if head_mask is not None and head_mask.shape != (self.cfg.num_layers, self.cfg.num_heads):
            raise ValueError(
                f"head_mask must be (L, H) = ({self.cfg.num_layers}, {self.cfg.num_heads}), got {tuple(head_mask.shape)}"
            )
        terms = {
            "embed": self.embed(tokens),
            "pos": self.pos[: tokens.shape[1]].expand(tokens.shape[0], -1, -1),
        }
        x = terms["embed"] + terms["pos"]
        for l, attn in enumerate(self.layers):
            heads = attn.head_outputs(x, is_causal=True)  # (B, H, T, E)
            if head_mask is not None:
                heads = heads * head_mask[l].view(1, -1, 1, 1)
            terms[f"L{l}.bias"] = attn.out_proj.bias.expand_as(x)
            for h in range(heads.shape[1]):
                terms[f"L{l}.H{h}"] = heads[:, h]
            x = x + heads.sum(1) + attn.out_proj.bias
        return terms


def _head_weights(
    attn: MultiheadAttention, head: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    e, d = attn.embed_dim, attn.head_dim
    w_q, w_k, w_v = attn.in_proj.weight.view(3, attn.num_heads, d, e)[:, head]  # (D, E) each
    w_o = attn.out_proj.weight[:, head * d : (head + 1) * d]  # (E, D)
    return w_q, w_k, w_v, w_o


def qk_circuit(attn: MultiheadAttention, head: int) -> torch.Tensor:
    """W_Q,hᵀ W_K,h, (E, E): the bilinear form of head h's attention scores (before 1/√D)."""
    w_q, w_k, _, _ = _head_weights(attn, head)
    return w_q.T @ w_k


def ov_circuit(attn: MultiheadAttention, head: int) -> torch.Tensor:
    """W_O,h W_V,h, (E, E), rank ≤ D: what head h writes for what it attends to."""
    _, _, w_v, w_o = _head_weights(attn, head)
    return w_o @ w_v


def copying_score(model: AttnOnlyTransformer, layer: int, head: int) -> float:
    """Σλ / Σ|λ| of the full OV circuit W_U W_OV W_Eᵀ (V, V); 1 for a pure copier."""
    full = model.unembed.weight @ ov_circuit(model.layers[layer], head) @ model.embed.weight.T  # (V, V)
    eig = torch.linalg.eigvals(full.detach().double())
    return float(eig.real.sum() / eig.abs().sum())


@torch.no_grad()
def prefix_matching_scores(model: AttnOnlyTransformer, tokens: torch.Tensor, block: int) -> torch.Tensor:
    """(L, H) mean attention from position i ≥ block of a repeated block to i − block + 1.

    ``tokens`` (B, 2·block): a random block repeated once (``deltalab.data.seq.induction``).
    """
    if tokens.shape[1] != 2 * block:
        raise ValueError(f"expected tokens (B, 2*block = {2 * block}), got shape {tuple(tokens.shape)}")
    scores = torch.zeros(model.cfg.num_layers, model.cfg.num_heads)
    x = model.embed(tokens) + model.pos[: tokens.shape[1]]
    queries = torch.arange(block, 2 * block)
    for l, attn in enumerate(model.layers):
        w = attn.attention_weights(x, is_causal=True)  # (B, H, T, T)
        scores[l] = w[:, :, queries, queries - block + 1].mean(dim=(0, 2))
        x = x + attn(x, is_causal=True)
    return scores
