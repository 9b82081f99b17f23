"""RoPE: no parameters, relative-position invariance, rotation norm, shape errors."""

import pytest
import torch

from deltalab.nn.rope import RotaryEmbedding


def test_no_parameters_and_no_state():
    rope = RotaryEmbedding(8)
    assert list(rope.parameters()) == [] and rope.state_dict() == {}


@pytest.mark.parametrize("head_dim", [2, 8, 64])
def test_inner_product_depends_on_offset_only(head_dim):
    g = torch.Generator().manual_seed(0)
    rope = RotaryEmbedding(head_dim)
    q, k = torch.randn(1, head_dim, generator=g), torch.randn(1, head_dim, generator=g)
    base = (rope(q, offset=3) * rope(k, offset=10)).sum()
    for shift in (1, 100, 1000):
        shifted = (rope(q, offset=3 + shift) * rope(k, offset=10 + shift)).sum()
        assert abs(float(shifted - base)) < 1e-5


def test_rotation_keeps_norm_and_offset_matches_slice():
    rope = RotaryEmbedding(16, max_len=4)
    x = torch.randn(2, 3, 50, 16)
    y = rope(x)  # grows the cache past max_len
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rope(x[:, :, 20:], offset=20), y[:, :, 20:])


def test_errors():
    with pytest.raises(ValueError, match="even head_dim"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match=r"expected x of shape \(\*, T, 8\), got \(2, 4, 6\)"):
        RotaryEmbedding(8)(torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match=r"expected x of shape \(\*, T, 8\), got \(8,\)"):
        RotaryEmbedding(8)(torch.randn(8))
    with pytest.raises(ValueError, match="offset"):
        RotaryEmbedding(8)(torch.randn(4, 8), offset=-1)
