"""LoRA: B=0 start equals the base, A=B=0 never moves, merge round trip, SVD start, injection."""

import pytest
import torch
from torch import nn

from deltalab.nn.lora import LoRALinear, count_trainable, inject_lora, lora_modules


def _base() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(12, 8).double()


@pytest.mark.parametrize("init", ["lora", "svd"])
def test_start_equals_base(init):
    base = _base()
    x = torch.randn(5, 12, dtype=torch.float64)
    want = base(x).detach()
    layer = LoRALinear(base, r=3, alpha=6.0, init=init)
    torch.testing.assert_close(layer(x), want, atol=1e-12, rtol=0)
    assert count_trainable(layer) == 3 * (12 + 8)


def test_random_init_perturbs_and_zero_init_never_moves():
    x = torch.randn(5, 12, dtype=torch.float64)
    base = _base()
    assert (LoRALinear(_base(), r=2, init="random")(x) - base(x)).abs().max() > 1e-3
    layer = LoRALinear(_base(), r=2, init="zero")
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        layer(x).square().sum().backward()
        opt.step()
    assert layer.lora_A.abs().max() == 0 and layer.lora_B.abs().max() == 0


def test_merge_round_trip():
    layer = LoRALinear(_base(), r=4, init="random")
    w0 = layer.base.weight.clone()
    x = torch.randn(5, 12, dtype=torch.float64)
    unmerged = layer(x)
    layer.merge()
    torch.testing.assert_close(layer(x), unmerged, atol=1e-12, rtol=0)
    layer.unmerge()
    torch.testing.assert_close(layer.base.weight, w0, atol=1e-12, rtol=0)


def test_inject_and_errors():
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3))
    names = inject_lora(model, ["2"], r=2)
    assert names == ["2"] and len(lora_modules(model)) == 1
    assert count_trainable(model) == 2 * (6 + 3)
    with pytest.raises(ValueError, match="no nn.Linear matches"):
        inject_lora(model, ["missing"])
    with pytest.raises(ValueError, match="r must be"):
        LoRALinear(nn.Linear(4, 3), r=4)
    with pytest.raises(ValueError, match="init must be"):
        LoRALinear(nn.Linear(4, 3), r=1, init="gauss")
