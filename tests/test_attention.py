"""Multi-head attention: parity with torch's nn.MultiheadAttention, heads sum, masks, shape errors."""

import pytest
import torch
from torch import nn

from deltalab.nn.attention import MultiheadAttention
from deltalab.nn.transformer import BlockConfig, TransformerBlock, TransformerStack


def _pair(e: int = 16, h: int = 4) -> tuple[MultiheadAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = MultiheadAttention(e, h).double()
    ref = nn.MultiheadAttention(e, h, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.in_proj.weight)
        ref.in_proj_bias.copy_(ours.in_proj.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ours.eval(), ref.eval()


def test_matches_torch_mha_with_masks():
    ours, ref = _pair()
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, 5:] = True
    causal = torch.ones(7, 7, dtype=torch.bool).triu(1)
    for kw in (
        {},
        {"key_padding_mask": pad},
        {"attn_mask": causal},
        {"attn_mask": causal, "key_padding_mask": pad},
    ):
        want, w_ref = ref(x, x, x, need_weights=True, average_attn_weights=False, **kw)
        torch.testing.assert_close(ours(x, **kw), want, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(ours.attention_weights(x, **kw), w_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(
        ours(x, is_causal=True), ref(x, x, x, attn_mask=causal)[0], atol=1e-10, rtol=1e-10
    )


def test_cross_attention_matches_torch():
    ours, ref = _pair()
    q, kv = torch.randn(2, 5, 16, dtype=torch.float64), torch.randn(2, 9, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(q, kv, kv), ref(q, kv, kv)[0], atol=1e-10, rtol=1e-10)


def test_concat_heads_equals_sum_of_heads():
    ours, _ = _pair()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    heads = ours.head_outputs(x, is_causal=True)  # (B, H, T, E)
    assert heads.shape == (2, 4, 6, 16)
    torch.testing.assert_close(heads.sum(1) + ours.out_proj.bias, ours(x, is_causal=True), atol=1e-12, rtol=0)


def test_causal_with_fewer_queries_than_keys_is_bottom_right_aligned():
    ours, _ = _pair()
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    full = ours(x, is_causal=True)
    last = ours(x[:, -2:], x, x, is_causal=True)
    torch.testing.assert_close(last, full[:, -2:], atol=1e-12, rtol=0)


def test_rope_attention_runs_and_is_shift_invariant_for_keys_and_queries():
    torch.manual_seed(0)
    attn = MultiheadAttention(16, 2, rope=True).double().eval()
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    torch.testing.assert_close(
        attn.attention_weights(x), attn.attention_weights(x, offset=37), atol=1e-10, rtol=0
    )


def test_shape_errors_are_clear():
    attn = MultiheadAttention(16, 4)
    with pytest.raises(ValueError, match=r"\(B, T, 16\)"):
        attn(torch.randn(2, 16))
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match="key_padding_mask"):
        attn(torch.randn(2, 3, 16), key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="dropout"):
        MultiheadAttention(16, 4, dropout=1.5)


def test_block_and_stack_shapes_and_grad():
    cfg = BlockConfig(embed_dim=16, num_heads=4, dropout=0.1)
    stack = TransformerStack(cfg, 2)
    x = torch.randn(2, 5, 16, requires_grad=True)
    y = stack(x, is_causal=True)
    assert y.shape == x.shape
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    attn_only = TransformerBlock(BlockConfig(embed_dim=16, num_heads=4, mlp_ratio=0, norm=False))
    assert attn_only.mlp is None
    with pytest.raises(ValueError, match="mlp_ratio"):
        BlockConfig(mlp_ratio=-1)


def test_benchmarks_run_at_tiny_sizes():
    from deltalab.bench import attention as b

    assert b.mha_vs_sdpa(batch=1, length=8, embed_dim=16, num_heads=2, repeats=2).ratio > 0
    mem = b.linear_attention_memory(length=64, head_dim=8)
    assert mem.candidate > 0 and mem.baseline >= 64 * 64 * 4
    assert b.linear_attention_time(length=32, head_dim=8, repeats=2).ratio > 0
    assert b.ridge_incremental(key_dim=8, value_dim=4, repeats=2).ratio > 0
    assert b.transformer_mfu(embed_dim=16, num_layers=1, batch=2, length=8, repeats=2).candidate > 0


def test_peak_memory_counts_live_tensors():
    from deltalab.analysis.memory import peak_memory

    def f() -> torch.Tensor:
        a = torch.ones(1024, 256)  # 1 MiB
        b = a * 2  # 1 MiB, both alive
        del a
        return b.sum()

    assert peak_memory(f) == 2 * 2**20  # a and b; the 4-byte sum comes after a is freed


def test_fully_masked_query_attends_to_nothing_as_sdpa_does():
    import torch.nn.functional as F

    from deltalab.nn.attention import MultiheadAttention

    torch.manual_seed(0)
    mha = MultiheadAttention(8, 2).eval()
    x = torch.randn(2, 3, 8)
    pad = torch.tensor([[True, True, True], [False, False, True]])  # batch 0: every key padded
    out = mha(x, key_padding_mask=pad)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0], mha.out_proj.bias.expand(3, 8))  # zero attention, then W_O's bias
    w = mha.attention_weights(x, key_padding_mask=pad)
    assert torch.equal(w[0], torch.zeros_like(w[0])) and torch.allclose(w[1].sum(-1), torch.ones(2, 3))
    # the same as SDPA with the equivalent boolean mask (True = may attend)
    q, k, v = mha.project_qkv(x)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad.view(2, 1, 1, 3))
    ref = mha.out_proj(ref.transpose(1, 2).reshape(2, 3, 8))
    assert torch.allclose(out, ref, atol=1e-6)
    causal_and_pad = mha(
        x, key_padding_mask=torch.tensor([[True, False, False], [False] * 3]), is_causal=True
    )
    assert torch.allclose(causal_and_pad[0, 0], mha.out_proj.bias)  # query 0 sees only key 0, padded
