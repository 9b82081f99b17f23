"""Every layer names the shape it expected when given a wrong one (not a raw matmul error)."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from deltalab.nn import conv_blocks, gnn, lstm, noise, recurrent, rezero, rope, seq2seq, ssm, transformer
from deltalab.nn.mup import MupMLP, MuReadout
from deltalab.nn.shapes import check_integer, check_shape, describe
from deltalab.nn.unit_scaling import UnitScaledLinear


def test_check_shape_matches_ints_names_and_leading_dims():
    check_shape(torch.zeros(2, 4), "x", ("B", 4))
    check_shape(torch.zeros(2, 3, 5, 4), "x", (..., 4))
    check_shape(torch.zeros(4), "x", (..., 4))  # `...` matches zero leading dims too
    check_shape(torch.zeros(3, 7), "x", (None, 7))
    for bad, shape in [((2, 6), ("B", 4)), ((2, 4, 1), ("B", 4)), ((4,), ("B", 4)), ((3, 5), (..., 4))]:
        with pytest.raises(ValueError, match=re.escape(f"expected x of shape {describe(shape)}")):
            check_shape(torch.zeros(bad), "x", shape)
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_shape([1, 2], "x", ("B",))  # type: ignore[arg-type]
    assert describe((..., "T", None, 8)) == "(*, T, _, 8)"


def test_check_integer():
    check_integer(torch.tensor([0, 4]), "ids", 5)
    with pytest.raises(ValueError, match="integer ids"):
        check_integer(torch.tensor([0.0]), "ids", 5)
    with pytest.raises(ValueError, match=r"ids in \[0, 5\), got min 0, max 5"):
        check_integer(torch.tensor([0, 5]), "ids", 5)


def _t(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


_CASES = [
    ("BasicBlock channels", lambda: conv_blocks.BasicBlock(3, 8), (_t(2, 4, 8, 8),), r"\(B, 3, H, W\)"),
    (
        "Bottleneck channels",
        lambda: conv_blocks.BottleneckBlock(3, 4, 8),
        (_t(2, 5, 8, 8),),
        r"\(B, 3, H, W\)",
    ),
    ("Inception channels", lambda: conv_blocks.Inception(3, 2, 2, 2, 2, 2, 2), (_t(2, 5, 8, 8),), r"\(B, 3"),
    ("MLPConv channels", lambda: conv_blocks.MLPConv(3, 4), (_t(2, 5, 8, 8),), r"\(B, 3, H, W\)"),
    ("ReduceConv channels", lambda: conv_blocks.ReduceConv(3, 4, 8), (_t(2, 5, 8, 8),), r"\(B, 3, H, W\)"),
    ("GCN features", lambda: gnn.GCN(4, [8], 3), (_t(5, 6), torch.eye(5)), r"\(N, 4\)"),
    ("GCN adjacency", lambda: gnn.GCN(4, [8], 3), (_t(5, 4), torch.eye(6)), r"\(5, 5\)"),
    (
        "GraphConv features",
        lambda: gnn.GraphConv(4, 3),
        (_t(5, 6), torch.tensor([[0, 1], [1, 2]])),
        r"\(N, 4\)",
    ),
    (
        "LSTM state",
        lambda: lstm.LSTM(4, 8),
        (_t(5, 2, 4), (_t(1, 2, 7), _t(1, 2, 7))),
        r"h_0 of shape \(1, 2, 8\)",
    ),
    ("LSTMCell state", lambda: lstm.LSTMCell(4, 8), (_t(2, 4), (_t(2, 7), _t(2, 7))), r"h of shape \(2, 8\)"),
    ("Elman state", lambda: recurrent.ElmanRNN(4, 8, 3), (_t(2, 5, 4), _t(2, 8)), r"\(1, 2, 8\)"),
    ("Jordan state", lambda: recurrent.JordanRNN(4, 8, 3), (_t(2, 5, 4), _t(2, 7)), r"\(2, 3\)"),
    ("DeepFC features", lambda: rezero.DeepFC(4, 8, 3, 2), (_t(2, 6),), r"\(B, 4\)"),
    ("ReZero fn shape", lambda: rezero.ReZero(nn.Linear(4, 6)), (_t(2, 4),), "keep the shape"),
    ("RoPE rank", lambda: rope.RotaryEmbedding(8), (_t(8),), r"\(\*, T, 8\)"),
    (
        "Seq2Seq vocab",
        lambda: seq2seq.Seq2Seq(10),
        (torch.tensor([[1, 2, 11]]), torch.tensor([[1, 2]])),
        r"\[0, 10\)",
    ),
    ("Seq2Seq dtype", lambda: seq2seq.Seq2Seq(10), (_t(1, 3), torch.tensor([[1, 2]])), "integer ids"),
    (
        "Seq2Seq batch",
        lambda: seq2seq.Seq2Seq(10),
        (torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2], [1, 2]])),
        r"tgt_in token ids of shape \(1, T\)",
    ),
    ("S4DModel features", lambda: ssm.S4DModel(4, 3), (_t(2, 16, 6),), r"\(B, L, 4\)"),
    (
        "TransformerBlock width",
        lambda: transformer.TransformerBlock(transformer.BlockConfig(embed_dim=8, num_heads=2)),
        (_t(2, 5, 6),),
        r"\(B, T, 8\)",
    ),
    (
        "TransformerStack width",
        lambda: transformer.TransformerStack(transformer.BlockConfig(embed_dim=8, num_heads=2), 2),
        (_t(2, 5, 6),),
        r"\(B, T, 8\)",
    ),
    ("MuReadout features", lambda: MuReadout(4, 3), (_t(2, 6),), r"\(\*, 4\)"),
    ("MupMLP features", lambda: MupMLP(4, 16, 3), (_t(2, 6),), r"\(B, 4\)"),
    ("UnitScaledLinear features", lambda: UnitScaledLinear(4, 3), (_t(2, 6),), r"\(B, 4\)"),
    (
        "GaussianNoise dtype",
        lambda: noise.GaussianNoise(),
        (torch.ones(3, dtype=torch.long),),
        "floating-point",
    ),
]


@pytest.mark.parametrize(("make", "inputs", "pattern"), [c[1:] for c in _CASES], ids=[c[0] for c in _CASES])
def test_layer_names_the_shape_it_expected(make, inputs, pattern):
    layer = make()
    with pytest.raises(ValueError, match=pattern):
        layer(*inputs)
