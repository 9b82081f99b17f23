"""Linear attention: polynomial identity, recurrent = causal (chunked) = quadratic, shapes."""

import pytest
import torch

from deltalab.nn.linear_attention import (
    LinearAttention,
    causal_linear_attention,
    causal_linear_attention_quadratic,
    linear_attention,
    linear_attention_step,
    polynomial_feature_map,
    softmax_attention_materialized,
)


@pytest.mark.parametrize("d", [1, 3, 8])
def test_polynomial_identity(d):
    g = torch.Generator().manual_seed(d)
    q, k = (
        torch.randn(5, d, generator=g, dtype=torch.float64),
        torch.randn(5, d, generator=g, dtype=torch.float64),
    )
    fq, fk = polynomial_feature_map(q), polynomial_feature_map(k)
    assert fq.shape[-1] == (d + 1) * (d + 2) // 2
    torch.testing.assert_close((fq * fk).sum(-1), ((q * k).sum(-1) + 1) ** 2, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("chunk", [1, 4, 7, 64])
def test_recurrent_equals_causal_equals_quadratic(chunk):
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(2, 3, 19, 4, generator=g, dtype=torch.float64) for _ in range(2))
    v = torch.randn(2, 3, 19, 5, generator=g, dtype=torch.float64)
    quad = causal_linear_attention_quadratic(q, k, v)
    torch.testing.assert_close(
        causal_linear_attention(q, k, v, chunk_size=chunk), quad, atol=1e-10, rtol=1e-10
    )
    state, outs = None, []
    for t in range(19):
        o, state = linear_attention_step(q[..., t, :], k[..., t, :], v[..., t, :], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs, -2), quad, atol=1e-10, rtol=1e-10)


def test_noncausal_matches_normalized_kernel_matrix():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 11, 4, generator=g, dtype=torch.float64) for _ in range(3))
    from deltalab.nn.linear_attention import elu_feature_map

    a = elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)
    torch.testing.assert_close(linear_attention(q, k, v), (a @ v) / (a.sum(-1, keepdim=True) + 1e-6))


def test_module_and_errors():
    m = LinearAttention(16, 4, causal=True, chunk_size=3)
    x = torch.randn(2, 10, 16, requires_grad=True)
    m(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match=r"\(B, N, 16\)"):
        m(torch.randn(10, 16))
    with pytest.raises(ValueError, match="chunk_size"):
        causal_linear_attention(x, x, x, chunk_size=0)
    with pytest.raises(ValueError, match="expected q, k"):
        linear_attention(torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 2))


def test_materialized_softmax_matches_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 17, 8), torch.randn(2, 3, 17, 8), torch.randn(2, 3, 17, 5)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(softmax_attention_materialized(q, k, v), expected)
    with pytest.raises(ValueError, match="equal shape"):
        softmax_attention_materialized(q, k[..., :4], v)
