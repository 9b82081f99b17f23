"""Sequence-layer benchmarks: the S4D layer by FFT vs its scan, and the hand-written LSTM vs nn.LSTM."""

from __future__ import annotations

import torch
from torch import nn

from deltalab.bench.core import BenchResult, benchmark, time_pair
from deltalab.nn.lstm import LSTM
from deltalab.nn.ssm import S4DLayer


def ssm_fft_vs_scan_at(L: int = 4096, embed_dim: int = 8, d_state: int = 8, repeats: int = 20) -> BenchResult:
    """Forward of one S4D layer (batch 1): kernel + FFT convolution (candidate) vs the recurrence."""
    torch.manual_seed(0)
    layer = S4DLayer(embed_dim, d_state)
    u = torch.randn(1, embed_dim, L)
    with torch.no_grad():
        t = time_pair(lambda: layer(u), lambda: layer(u, mode="scan"), repeats=repeats, warmup=2)
    return BenchResult.from_timing("ssm-fft-vs-scan", t, L=L, H=embed_dim, N=d_state)


def lstm_cell_at(T: int = 50, batch: int = 64, hidden_size: int = 64, repeats: int = 20) -> BenchResult:
    """Forward + backward of the hand-written LSTM (candidate) vs nn.LSTM (baseline), same weights."""
    torch.manual_seed(0)
    ref = nn.LSTM(hidden_size, hidden_size, batch_first=True)
    ours = LSTM.from_torch(ref)
    x = torch.randn(batch, T, hidden_size)

    def step(m: nn.Module) -> None:
        m.zero_grad(set_to_none=True)
        m(x)[0].sum().backward()

    t = time_pair(lambda: step(ours), lambda: step(ref), repeats=repeats, warmup=2)
    return BenchResult.from_timing("lstm-cell", t, T=T, batch=batch, hidden_size=hidden_size)


@benchmark(goal=0.1, better="lower")
def ssm_fft_vs_scan() -> BenchResult:
    """S4D layer at L = 4096: FFT kernel path / step-by-step scan (goal <= 0.1)."""
    return ssm_fft_vs_scan_at()


@benchmark(goal=3.0, better="lower")
def lstm_cell() -> BenchResult:
    """Hand-written LSTM / nn.LSTM, forward + backward (goal: the lesson's twin within 3x of torch's)."""
    return lstm_cell_at()
