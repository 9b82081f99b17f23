"""Ridge attention: incremental (Sherman–Morrison) equals the batch solve; errors."""

import pytest
import torch

from deltalab.nn.ridge_attention import IncrementalRidge, ridge_attention, ridge_weights


def test_incremental_equals_batch():
    g = torch.Generator().manual_seed(0)
    k = torch.randn(3, 40, 6, generator=g, dtype=torch.float64)
    v = torch.randn(3, 40, 5, generator=g, dtype=torch.float64)
    inc = IncrementalRidge(6, 5, lam=0.5, batch_shape=(3,))
    for i in range(40):
        inc.update(k[:, i], v[:, i])
        if i in (0, 5, 39):
            torch.testing.assert_close(
                inc.weight, ridge_weights(k[:, : i + 1], v[:, : i + 1], 0.5), atol=1e-10, rtol=0
            )
    q = torch.randn(3, 7, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(inc.query(q), ridge_attention(q, k, v, 0.5), atol=1e-10, rtol=0)


def test_unbatched_in_place_update_equals_batched():
    g = torch.Generator().manual_seed(2)
    k = torch.randn(30, 5, generator=g, dtype=torch.float64)
    v = torch.randn(30, 3, generator=g, dtype=torch.float64)
    one, batched = IncrementalRidge(5, 3, lam=0.3), IncrementalRidge(5, 3, lam=0.3, batch_shape=(1,))
    for i in range(30):
        one.update(k[i], v[i])
        batched.update(k[i : i + 1], v[i : i + 1])
    torch.testing.assert_close(one.weight, batched.weight[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(one.p, batched.p[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(one.weight, ridge_weights(k, v, 0.3), atol=1e-10, rtol=0)
    assert one.count == 30


def test_batch_is_the_ridge_minimizer():
    g = torch.Generator().manual_seed(1)
    k, v = (
        torch.randn(30, 4, generator=g, dtype=torch.float64),
        torch.randn(30, 2, generator=g, dtype=torch.float64),
    )
    w = ridge_weights(k, v, 2.0).requires_grad_(True)
    loss = ((k @ w - v) ** 2).sum() + 2.0 * (w**2).sum()
    loss.backward()
    assert w.grad.abs().max() < 1e-10


def test_errors():
    with pytest.raises(ValueError, match="lam must be > 0"):
        ridge_weights(torch.randn(3, 2), torch.randn(3, 2), lam=0.0)
    with pytest.raises(ValueError, match="keys"):
        ridge_weights(torch.randn(3, 2), torch.randn(4, 2))
    inc = IncrementalRidge(4, 2)
    with pytest.raises(ValueError, match=r"k \(\.\.\., 4\)"):
        inc.update(torch.randn(3), torch.randn(2))
