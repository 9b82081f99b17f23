"""Benchmarks of chapter A's layers: attention overhead, linear attention, ridge updates, MFU.

Each function takes its sizes as keyword arguments (defaults are the benchmark; tests pass tiny
ones). Ratios are candidate / baseline, measured interleaved in one process.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.analysis.memory import peak_memory
from deltalab.bench.core import BenchResult, benchmark, time_pair
from deltalab.models.transformer import SequenceTransformer, TransformerConfig
from deltalab.nn.attention import MultiheadAttention
from deltalab.nn.linear_attention import linear_attention, softmax_attention_materialized
from deltalab.nn.ridge_attention import IncrementalRidge


class BareSDPA(nn.Module):
    """The baseline: fused QKV projection, SDPA, output projection; nothing else."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.h = num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.out = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, e = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.h, e // self.h).permute(2, 0, 3, 1, 4)  # (B, H, T, D) each
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, e))


def _fwd_bwd(module: nn.Module, x: torch.Tensor) -> None:
    module.zero_grad(set_to_none=True)
    module(x).sum().backward()


@benchmark(goal=1.10, better="lower")
def mha_vs_sdpa(
    batch: int = 8, length: int = 256, embed_dim: int = 256, num_heads: int = 8, repeats: int = 20
) -> BenchResult:
    """Our MultiheadAttention (causal) vs a bare SDPA block, forward + backward."""
    torch.manual_seed(0)
    ours, bare = MultiheadAttention(embed_dim, num_heads), BareSDPA(embed_dim, num_heads)
    x = torch.randn(batch, length, embed_dim)

    def candidate() -> None:
        ours.zero_grad(set_to_none=True)
        ours(x, is_causal=True).sum().backward()

    t = time_pair(candidate, lambda: _fwd_bwd(bare, x), repeats=repeats, warmup=3)
    return BenchResult.from_timing("mha-vs-sdpa", t)


@benchmark(goal=0.10, better="lower")
def linear_attention_memory(length: int = 8192, head_dim: int = 64) -> BenchResult:
    """Peak tensor memory (dispatch accounting) of elu+1 linear vs softmax attention that builds N×N."""
    q, k, v = (torch.randn(1, 1, length, head_dim) for _ in range(3))
    lin = peak_memory(functools.partial(linear_attention, q, k, v))
    soft = peak_memory(functools.partial(softmax_attention_materialized, q, k, v))
    sdpa = peak_memory(functools.partial(F.scaled_dot_product_attention, q, k, v))
    return BenchResult(
        "linear-attention-memory",
        float(lin),
        float(soft),
        "bytes",
        1,
        extra={"sdpa_bytes": sdpa, "N": length},
    )


@benchmark(goal=0.50, better="lower")
def linear_attention_time(length: int = 8192, head_dim: int = 64, repeats: int = 20) -> BenchResult:
    """Forward time at N: elu+1 linear attention vs softmax attention that builds N×N."""
    q, k, v = (torch.randn(1, 1, length, head_dim) for _ in range(3))
    t = time_pair(
        lambda: linear_attention(q, k, v),
        lambda: softmax_attention_materialized(q, k, v),
        repeats=repeats,
        warmup=2,
    )
    sdpa = time_pair(
        lambda: F.scaled_dot_product_attention(q, k, v), None, repeats=max(3, repeats // 4), warmup=1
    )
    return BenchResult.from_timing("linear-attention-time", t, sdpa_s=sdpa["candidate"], N=length)


@benchmark(goal=0.50, better="lower")
def ridge_incremental(key_dim: int = 256, value_dim: int = 64, repeats: int = 20) -> BenchResult:
    """Adding one key–value pair: Sherman–Morrison update vs re-solving (KᵀK+λI)W = KᵀV."""
    g = torch.Generator().manual_seed(0)
    k, v = (
        torch.randn(key_dim, generator=g, dtype=torch.float64),
        torch.randn(value_dim, generator=g, dtype=torch.float64),
    )
    state = IncrementalRidge(key_dim, value_dim, 1.0)
    a = torch.eye(key_dim, dtype=torch.float64) + torch.outer(k, k)
    b = torch.outer(k, v)

    def resolve() -> None:
        a.add_(torch.outer(k, k) * 1e-9)
        b.add_(torch.outer(k, v) * 1e-9)
        torch.linalg.solve(a, b)

    t = time_pair(lambda: state.update(k * 1e-3, v), resolve, repeats=repeats, warmup=3, inner=5)
    return BenchResult.from_timing("ridge-incremental", t, d=key_dim)


def train_step_flops(cfg: TransformerConfig, batch: int, length: int) -> float:
    """Matmul FLOPs of one forward+backward step: 6·(matrix params)·tokens + attention's 12·L·B·T²·E."""
    hidden = int(round(cfg.mlp_ratio * cfg.embed_dim))
    per_layer = 4 * cfg.embed_dim**2 + 2 * cfg.embed_dim * hidden  # QKV + O + MLP weights
    dense = cfg.num_layers * per_layer + cfg.embed_dim * cfg.out_dim  # + output head
    attn = 12 * cfg.num_layers * batch * length**2 * cfg.embed_dim / 2  # causal: half the scores count
    return 6.0 * dense * batch * length + attn


@benchmark(goal=0.40, better="higher")
def transformer_mfu(
    embed_dim: int = 256, num_layers: int = 4, batch: int = 16, length: int = 128, repeats: int = 10
) -> BenchResult:
    """Training-step FLOP/s of a small decoder-only LM vs the measured fp32 matmul FLOP/s (same run)."""
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=256,
        max_len=length,
        embed_dim=embed_dim,
        num_heads=max(1, embed_dim // 64),
        num_layers=num_layers,
        causal=True,
    )
    model = SequenceTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    x = torch.randint(0, 256, (batch, length))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x).flatten(0, 1), x.flatten()).backward()
        opt.step()

    n = max(64, embed_dim * 4)
    m1, m2 = torch.randn(n, n), torch.randn(n, n)
    t = time_pair(step, lambda: m1 @ m2, repeats=repeats, warmup=2)
    step_flops = train_step_flops(cfg, batch, length)
    achieved = step_flops / t["candidate"]
    peak = 2.0 * n**3 / t["baseline"]
    return BenchResult(
        "transformer-mfu",
        achieved,
        peak,
        "FLOP/s",
        t["repeats"],
        extra={"step_flops": step_flops, "matmul_n": n},
    )
