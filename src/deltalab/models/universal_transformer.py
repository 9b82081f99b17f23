"""Universal Transformer: one shared block applied repeatedly, with adaptive computation time.

Dehghani, Gouws, Vinyals, Uszkoreit, Kaiser, "Universal Transformers", arXiv:1807.03819;
ACT from Graves, "Adaptive Computation Time for Recurrent Neural Networks", arXiv:1603.08983.

Legend: B batch, T time, E embed dim, K classes, S max steps.

Per position, at step s (h⁰ = embedding):
    p_s = σ(w_hᵀ hˢ + b_h)                                   halting probability
    a position halts at the first step where Σ p ≥ 1 − ε; its last weight is the remainder
    R = 1 − Σ_{earlier} p;  weights w_s = p_s (still running) or R (halting step)
    hˢ⁺¹ = Block(hˢ + P + τ_s);   y = Σ_s w_s hˢ⁺¹            (weighted state)
    ponder ρ = N + R  (N: steps taken);  loss = task loss + τ·mean(ρ)

With ``halt_after_update`` (Graves' ordering) the block is applied first and p_s reads the new state
hˢ⁺¹, so even the first halting decision sees the whole sequence; the default reads hˢ (tensor2tensor's
ordering: the first decision sees only the embeddings). Halting at once (p₁ ≥ 1 − ε) gives N = 1, R = 1,
ρ = 2 and no gradient to the halting unit: ρ ≥ 1 always, and ρ ≈ 2 is the floor in practice.

Departures:
1. Classification from the mean of the (ACT-weighted) final states over unpadded positions, or
   (``readout="last"``) from the last unpadded position's (right padding).
2. ``act=False`` gives the fixed-depth baseline: the shared block applied ``max_steps`` times.
3. ``window=w`` makes the attention causal and local: position i attends to positions i − w..i only,
   so after s applications of the block it has seen at most s·w + 1 positions (full attention: all of
   them after one). With ``readout="last"`` the answer then needs at least (T − 1)/w applications.
4. ``gate=True`` gates each application like a highway layer (Srivastava et al. 2015, arXiv:1505.00387),
   with a GRU-style gate that reads both the old and the new state: a position can keep what it holds
   (z → 0) instead of adding every step's output to its residual stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deltalab.nn.transformer import BlockConfig, TransformerBlock


@dataclass
class UTConfig:
    """A Universal Transformer classifier over token sequences."""

    vocab_size: int = 2
    """token vocabulary"""
    num_classes: int = 2
    """K"""
    max_len: int = 64
    """longest sequence (learned positions)"""
    embed_dim: int = 64
    """E"""
    num_heads: int = 4
    """attention heads"""
    max_steps: int = 8
    """S, the most times the shared block is applied"""
    act: bool = True
    """adaptive computation time (False: always max_steps)"""
    threshold: float = 0.99
    """halting threshold 1 − ε"""
    halt_bias: float = -1.0
    """initial bias b_h of the halting unit (σ(−1) ≈ 0.27: a few steps at first; Graves and tensor2tensor use 1)"""
    halt_after_update: bool = False
    """halting unit reads the state after the step's update (Graves: p from sⁿ); False: before it (tensor2tensor)"""
    window: int | None = None
    """causal local attention: position i attends to i − window..i (None: full attention)"""
    readout: str = "mean"
    """classify from the mean over unpadded positions ("mean") or from the last unpadded one ("last")"""
    gate: bool = False
    """gated update hˢ⁺¹ = z ⊙ Block(hˢ) + (1 − z) ⊙ hˢ, z = σ(W_z [hˢ; Block(hˢ)] + b_z) (False: hˢ⁺¹ = Block(hˢ))"""
    gate_bias: float = 1.0
    """initial b_z (σ(1) ≈ 0.73: mostly the block's output at first)"""

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1 or None, got {self.window}")
        if self.readout not in ("mean", "last"):
            raise ValueError(f"readout must be 'mean' or 'last', got {self.readout!r}")


class UniversalTransformer(nn.Module):
    """Tokens (B, T) → logits (B, K); ``forward`` also sets ``self.ponder`` (B,) per sequence."""

    def __init__(self, cfg: UTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        e = cfg.embed_dim
        self.embed = nn.Embedding(cfg.vocab_size, e)
        self.pos = nn.Parameter(torch.randn(cfg.max_len, e) * 0.02)
        self.step_emb = nn.Parameter(torch.randn(cfg.max_steps, e) * 0.02)
        self.block = TransformerBlock(BlockConfig(e, cfg.num_heads, mlp_ratio=2.0))
        self.halt = nn.Linear(e, 1)
        nn.init.constant_(self.halt.bias, cfg.halt_bias)
        self.norm = nn.LayerNorm(e)
        self.head = nn.Linear(e, cfg.num_classes)
        self.gate = nn.Linear(2 * e, e) if cfg.gate else None
        if self.gate is not None:
            nn.init.constant_(self.gate.bias, cfg.gate_bias)
        self.ponder = torch.zeros(0)
        self.halt_weights = torch.zeros(0)  # (B, T, steps run): the ACT weights w_s, each row sums to 1

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"expected (B, T) token ids, got shape {tuple(x.shape)}")
        b, t = x.shape
        keep = torch.ones(b, t, device=x.device) if key_padding_mask is None else (~key_padding_mask).float()
        h = self.embed(x) + self.pos[:t]  # (B, T, E)
        attn_mask = None
        if self.cfg.window is not None:  # True = not allowed: keys after the query or more than w before it
            i = torch.arange(t, device=x.device)
            lag = i[:, None] - i[None, :]  # (T, T) query − key
            attn_mask = (lag < 0) | (lag > self.cfg.window)

        def step(h: torch.Tensor, s: int) -> torch.Tensor:
            new = self.block(h + self.step_emb[s], key_padding_mask=key_padding_mask, attn_mask=attn_mask)
            if self.gate is None:
                return new
            z = torch.sigmoid(self.gate(torch.cat([h, new], -1)))  # (B, T, E)
            return z * new + (1 - z) * h

        if not self.cfg.act:
            for s in range(self.cfg.max_steps):
                h = step(h, s)
            self.ponder = torch.full((b,), float(self.cfg.max_steps), device=x.device)
            self.halt_weights = torch.zeros(b, t, self.cfg.max_steps, device=x.device)
            self.halt_weights[..., -1] = 1.0  # only the last state is read
            return self._readout(h, keep)
        halting = torch.zeros(b, t, device=x.device)  # Σ p so far
        remainders = torch.zeros(b, t, device=x.device)
        n_updates = torch.zeros(b, t, device=x.device)
        out = torch.zeros_like(h)
        weights = []
        for s in range(self.cfg.max_steps):
            if self.cfg.halt_after_update:
                h = step(h, s)
            p = torch.sigmoid(self.halt(h)).squeeze(-1)  # (B, T)
            running = (halting <= self.cfg.threshold).float()
            last = s == self.cfg.max_steps - 1
            crossing = ((halting + p * running) > self.cfg.threshold).float() * running
            if last:
                crossing = running
            still = running - crossing
            halting = halting + p * still
            remainders = remainders + crossing * (1 - halting)
            halting = halting + crossing * remainders
            n_updates = n_updates + running
            w = (p * still + crossing * remainders).unsqueeze(-1)  # (B, T, 1)
            if not self.cfg.halt_after_update:
                h = step(h, s)
            out = out + w * h
            weights.append(w.squeeze(-1))
            if not bool((halting <= self.cfg.threshold).any()):
                break
        self.ponder = ((n_updates + remainders) * keep).sum(1) / keep.sum(1)  # (B,)
        self.halt_weights = torch.stack(weights, -1)
        return self._readout(out, keep)

    def _readout(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        if self.cfg.readout == "last":  # the last unpadded position (right padding)
            last = keep.sum(1).long() - 1  # (B,)
            return self.head(self.norm(h[torch.arange(h.shape[0], device=h.device), last]))
        pooled = (self.norm(h) * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True)  # (B, E)
        return self.head(pooled)
