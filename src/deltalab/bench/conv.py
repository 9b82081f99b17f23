"""`deltalab bench conv-block`: our residual block against the same computation written directly
with torch.nn.functional (same parameters, training-mode batch norm), forward + backward."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deltalab.bench.core import BenchResult, benchmark, time_pair
from deltalab.nn.conv_blocks import BasicBlock


def functional_basic_block(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """The BasicBlock computation spelled out in torch functionals, reading ``block``'s parameters."""

    def bn(h: torch.Tensor, m: torch.nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(h, m.running_mean, m.running_var, m.weight, m.bias, True, m.momentum, m.eps)

    out = F.relu(bn(F.conv2d(x, block.conv1.weight, stride=block.conv1.stride, padding=1), block.bn1))
    out = bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
    return F.relu(out + x)


def measure_conv_block(
    batch: int = 64, channels: int = 32, size: int = 16, repeats: int = 30, warmup: int = 3
) -> BenchResult:
    """Time fwd+bwd of ``BasicBlock`` vs ``functional_basic_block`` on (batch, channels, size, size)."""
    torch.manual_seed(0)
    block = BasicBlock(channels, channels)
    x = torch.randn(batch, channels, size, size, requires_grad=True)

    def ours() -> None:
        block(x).sum().backward()

    def direct() -> None:
        functional_basic_block(block, x).sum().backward()

    t = time_pair(ours, direct, repeats=repeats, warmup=warmup)
    return BenchResult.from_timing("conv-block", t, shape=[batch, channels, size, size])


@benchmark(goal=1.05, better="lower")
def conv_block() -> BenchResult:
    """BasicBlock (nn.Module) vs the same convs/batch norms/ReLUs in torch.nn.functional, fwd+bwd."""
    return measure_conv_block()
