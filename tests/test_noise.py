"""GaussianNoise: active only in training, with the requested scale."""

import pytest
import torch

from deltalab.nn.noise import GaussianNoise


def test_noise_only_in_training():
    layer = GaussianNoise(0.5)
    x = torch.zeros(20000)
    torch.manual_seed(0)
    y = layer(x)
    assert abs(y.std().item() - 0.5) < 0.02 and abs(y.mean().item()) < 0.02
    layer.eval()
    assert torch.equal(layer(x), x)


def test_zero_std_is_identity_and_grad_flows():
    x = torch.randn(3, 4, requires_grad=True)
    assert torch.equal(GaussianNoise(0.0)(x), x)
    GaussianNoise(0.3)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_bad_std():
    with pytest.raises(ValueError, match="-1"):
        GaussianNoise(-1.0)
