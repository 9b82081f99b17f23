"""Conv blocks: shapes, parameter counts, the functional twin of the residual block, the benchmark."""

import pytest
import torch
from torch import nn

from deltalab.bench.conv import functional_basic_block, measure_conv_block
from deltalab.nn.conv_blocks import (
    BasicBlock,
    BottleneckBlock,
    GlobalAvgPool,
    Inception,
    MLPConv,
    ReduceConv,
)


def test_shapes():
    x = torch.randn(2, 8, 8, 8)
    assert MLPConv(8, 16)(x).shape == (2, 16, 8, 8)
    assert GlobalAvgPool()(x).shape == (2, 8)
    torch.testing.assert_close(GlobalAvgPool()(x), nn.AdaptiveAvgPool2d(1)(x).flatten(1))
    assert ReduceConv(8, 4, 16)(x).shape == (2, 16, 8, 8)
    inc = Inception(8, 4, 4, 8, 2, 4, 4)
    assert inc(x).shape == (2, inc.out_channels, 8, 8) and inc.out_channels == 20
    assert BasicBlock(8, 16, stride=2)(x).shape == (2, 16, 4, 4)
    assert BottleneckBlock(8, 4, 16, stride=2)(x).shape == (2, 16, 4, 4)


def test_bottleneck_saves_parameters():
    direct = nn.Conv2d(64, 64, 3)
    reduced = ReduceConv(64, 16, 64)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(reduced) < count(direct) / 3


def test_identity_shortcut_and_plain_twin():
    block = BasicBlock(8, 8)
    assert isinstance(block.shortcut, nn.Identity)
    assert BasicBlock(8, 8, residual=False).shortcut is None
    # with the residual branch zeroed, the block is ReLU(x)
    nn.init.zeros_(block.bn2.weight)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_functional_twin_matches_module():
    torch.manual_seed(0)
    block = BasicBlock(6, 6)
    x = torch.randn(3, 6, 7, 7)
    state = {k: v.clone() for k, v in block.state_dict().items()}
    a = block(x)
    block.load_state_dict(state)
    torch.testing.assert_close(functional_basic_block(block, x), a)


def test_benchmark_runs_tiny():
    res = measure_conv_block(batch=2, channels=4, size=6, repeats=3, warmup=1)
    assert res.candidate > 0 and res.baseline > 0


def test_bad_channels_raise():
    with pytest.raises(ValueError, match="out_channels must be >= 1, got 0"):
        BasicBlock(4, 0)
    with pytest.raises(ValueError, match="num_1x1"):
        MLPConv(4, 4, num_1x1=-1)
