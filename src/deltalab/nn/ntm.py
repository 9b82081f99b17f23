"""The Neural Turing Machine: an LSTM controller with an N×M memory, one read and one write head.

Paper: Graves, Wayne & Danihelka, "Neural Turing Machines" (arXiv:1410.5401). Written by hand: torch
has no NTM, and the addressing is the lesson.

Addressing (§3.3), per head at every step, from the controller's emitted (k, β, g, s, γ):

    w^c_i = softmax_i(β · cos(k, M_i))                    content (cosine similarity, strength β > 0)
    w^g   = g · w^c + (1 − g) · w_{t−1}                   interpolation gate g ∈ (0, 1)
    w̃_i   = Σ_j w^g_j · s_{(i − j) mod N}                 circular convolution with shift weights s
    w_i   = w̃_i^γ / Σ_j w̃_j^γ                              sharpening, γ ≥ 1

Read: r = Σ_i w_i M_i. Write (erase then add): M_i ← M_i ⊙ (1 − w_i e) + w_i a, e ∈ (0, 1)^M.

Departures:
1. Shifts are limited to {−1, 0, +1} (the paper's copy setup); one read and one write head.
2. The memory starts from a constant 1e-6 (no learned initial memory); the initial weightings focus
   on slot 0, the initial reads are learned vectors.
3. Within a step the write head acts before the read head (the paper leaves the order open), and the
   output layer sees the controller state and this step's read.

Legend: B batch, T time, N memory slots, M slot width, H controller units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def content_address(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """softmax(β · cos(k, M_i)): memory (B, N, M), key (B, M), beta (B, 1) -> (B, N)."""
    sim = F.cosine_similarity(memory, key.unsqueeze(1), dim=-1, eps=1e-8)  # (B, N)
    return F.softmax(beta * sim, dim=-1)


def circular_shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """w̃_i = Σ_k s_k · w_{(i − k + K//2) mod N}: w (B, N), s (B, K) over shifts −K//2..K//2 -> (B, N).

    s = one-hot at shift +1 rolls w one slot forward (w̃_i = w_{i−1}).
    """
    K = s.shape[-1]
    if K % 2 == 0 or w.shape[-1] < K:
        raise ValueError(f"shift width must be odd and <= N={w.shape[-1]}, got {K}")
    rolled = torch.stack([torch.roll(w, k - K // 2, dims=-1) for k in range(K)], dim=-1)  # (B, N, K)
    return (rolled * s.unsqueeze(1)).sum(-1)


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w^γ / Σ w^γ: w (B, N), gamma (B, 1) >= 1 -> (B, N)."""
    w = (w + 1e-12) ** gamma
    return w / w.sum(-1, keepdim=True)


def address(
    memory: torch.Tensor,
    w_prev: torch.Tensor,
    key: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    s: torch.Tensor,
    gamma: torch.Tensor,
) -> torch.Tensor:
    """The four addressing stages (content, interpolate, shift, sharpen) -> weighting (B, N)."""
    w_g = g * content_address(memory, key, beta) + (1 - g) * w_prev
    return sharpen(circular_shift(w_g, s), gamma)


@dataclass
class NTMConfig:
    """Sizes of a Neural Turing Machine."""

    input_size: int
    """input features per step"""
    output_size: int
    """output logits per step"""
    hidden_size: int = 64
    """LSTM controller units"""
    mem_slots: int = 16
    """N, memory locations"""
    mem_width: int = 8
    """M, width of one memory location"""
    shifts: int = 3
    """width of the shift distribution (odd; 3 = shifts -1, 0, +1)"""

    def __post_init__(self) -> None:
        for name in ("input_size", "output_size", "hidden_size", "mem_slots", "mem_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.shifts % 2 == 0 or self.shifts > self.mem_slots:
            raise ValueError(f"shifts must be odd and <= mem_slots={self.mem_slots}, got {self.shifts}")


class NTM(nn.Module):
    """x (B, T, input_size) -> logits (B, T, output_size); ``trace`` keeps the weightings for plots."""

    def __init__(self, cfg: NTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        M, K = cfg.mem_width, cfg.shifts
        self.controller = nn.LSTMCell(cfg.input_size + M, cfg.hidden_size)
        self.head_sizes = [M, 1, 1, K, 1]  # k, β, g, s, γ
        self.read_head = nn.Linear(cfg.hidden_size, sum(self.head_sizes))
        self.write_head = nn.Linear(cfg.hidden_size, sum(self.head_sizes) + 2 * M)  # + erase, add
        self.read0 = nn.Parameter(torch.randn(M) * 0.01)
        self.out = nn.Linear(cfg.hidden_size + M, cfg.output_size)
        self.trace: dict[str, list[torch.Tensor]] = {}

    def _params(self, p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        k, beta, g, s, gamma = p.split(self.head_sizes, dim=-1)
        return k, F.softplus(beta), torch.sigmoid(g), F.softmax(s, -1), 1 + F.softplus(gamma)

    def forward(self, x: torch.Tensor, keep_trace: bool = False) -> torch.Tensor:
        cfg = self.cfg
        if x.dim() != 3 or x.shape[-1] != cfg.input_size:
            raise ValueError(f"expected x of shape (B, T, {cfg.input_size}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        N, M = cfg.mem_slots, cfg.mem_width
        memory = x.new_full((B, N, M), 1e-6)
        w_r = x.new_zeros(B, N)
        w_r[:, 0] = 1.0
        w_w = w_r.clone()
        read = self.read0.expand(B, M)
        hc = None
        outs, self.trace = [], {"read": [], "write": []}
        for t in range(T):
            hc = self.controller(torch.cat([x[:, t], read], -1), hc)
            h = hc[0]  # (B, H)
            pw = self.write_head(h)
            w_w = address(memory, w_w, *self._params(pw[:, : -2 * M]))
            erase, add = torch.sigmoid(pw[:, -2 * M : -M]), torch.tanh(pw[:, -M:])
            memory = memory * (1 - w_w.unsqueeze(-1) * erase.unsqueeze(1)) + w_w.unsqueeze(
                -1
            ) * add.unsqueeze(1)
            w_r = address(memory, w_r, *self._params(self.read_head(h)))
            read = (w_r.unsqueeze(-1) * memory).sum(1)  # (B, M)
            outs.append(self.out(torch.cat([h, read], -1)))
            if keep_trace:
                self.trace["read"].append(w_r.detach())
                self.trace["write"].append(w_w.detach())
        return torch.stack(outs, dim=1)  # (B, T, output_size)
