"""LoRA: B=0 start equals the base, A=B=0 never moves, merge round trip, SVD start, injection."""

import copy

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


def test_state_dict_after_merge_loads_to_same_outputs():
    # Review finding: a state dict saved after merge() and loaded into a fresh, unmerged layer
    # used to apply the adapter twice (the merge state was a plain attribute).
    layer = LoRALinear(_base(), r=4, init="random")
    x = torch.randn(5, 12, dtype=torch.float64)
    layer.merge()
    want = layer(x).detach()
    fresh = LoRALinear(_base(), r=4, init="lora")
    fresh.load_state_dict(layer.state_dict())
    assert fresh.merged
    torch.testing.assert_close(fresh(x), want, atol=1e-12, rtol=0)
    fresh.unmerge()  # and the loaded layer can still take the adapter out again
    torch.testing.assert_close(fresh.base.weight, _base().weight, atol=1e-12, rtol=0)
    # the other way round: an unmerged state loaded into a merged layer is unmerged
    merged = LoRALinear(_base(), r=4, init="random")
    merged.merge()
    unmerged = LoRALinear(_base(), r=4, init="random")
    merged.load_state_dict(unmerged.state_dict())
    assert not merged.merged
    torch.testing.assert_close(merged(x), unmerged(x), atol=1e-12, rtol=0)


def test_state_dict_without_merge_flag_loads_as_unmerged():
    # state dicts written before the flag was a buffer have no entry for it: they were unmerged
    layer = LoRALinear(_base(), r=2, init="random")
    old = {k: v for k, v in layer.state_dict().items() if k != "merged_flag"}
    fresh = LoRALinear(_base(), r=2, init="lora")
    fresh.load_state_dict(old)
    assert not fresh.merged
    x = torch.randn(3, 12, dtype=torch.float64)
    torch.testing.assert_close(fresh(x), layer(x), atol=1e-12, rtol=0)


def test_svd_init_leaves_the_callers_layer_untouched():
    # Review finding: the svd start used to subtract its top-r part from the caller's weight in place.
    base = _base()
    w0 = base.weight.detach().clone()
    layer = LoRALinear(base, r=3, alpha=6.0, init="svd")
    torch.testing.assert_close(base.weight.detach(), w0, atol=0, rtol=0)
    # the adapter's own copy holds the residual W0 - (a/r) B A
    torch.testing.assert_close(layer.base.weight + layer.delta_weight(), w0, atol=1e-12, rtol=0)


def test_identities_on_an_injected_mlp_under_adam():
    # The lora experiment's identities (once bars, now tests): B=0 start equals the base exactly,
    # A=B=0 never moves under Adam, merged equals unmerged (float64) to 1e-6.
    torch.manual_seed(0)
    base = nn.Sequential(
        nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)
    ).double()
    x, y = torch.randn(40, 16, dtype=torch.float64), torch.randint(0, 10, (40,))
    want = base(x).detach()
    start = copy.deepcopy(base)
    inject_lora(start, ["0", "2", "4"], r=4, alpha=8.0, init="lora")
    assert torch.equal(start(x), want)
    zero = copy.deepcopy(base)
    inject_lora(zero, ["0", "2", "4"], r=4, alpha=8.0, init="zero")
    trained = copy.deepcopy(base)
    inject_lora(trained, ["0", "2", "4"], r=4, alpha=8.0, init="random")
    for model in (zero, trained):
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(20):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert all(t.abs().max() == 0 for m in lora_modules(zero) for t in (m.lora_A, m.lora_B))
    with torch.no_grad():
        unmerged = trained(x)
        for m in lora_modules(trained):
            m.merge()
        assert (trained(x) - unmerged).abs().max() <= 1e-6
