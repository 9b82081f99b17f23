"""The hand-written BatchNorm against nn.BatchNorm1d/2d: outputs, gradients, running stats."""

import pytest
import torch
from torch import nn

from deltalab.nn.batchnorm import BatchNorm


def _pair(shape, momentum=0.1, affine=True):
    c = shape[1]
    ref = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(c, momentum=momentum, affine=affine)
    mine = BatchNorm(c, momentum=momentum, affine=affine)
    if affine:
        with torch.no_grad():
            ref.weight.normal_()
            ref.bias.normal_()
        mine.load_state_dict(ref.state_dict())
    return mine, ref


@pytest.mark.parametrize("shape", [(16, 5), (8, 3, 7), (6, 4, 5, 5)])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_matches_torch_train_and_eval(shape, momentum, affine):
    torch.manual_seed(0)
    mine, ref = _pair(shape, momentum, affine)
    for step in range(3):
        x = (torch.randn(shape) * 2 + 0.5 * step).requires_grad_(True)
        x2 = x.detach().clone().requires_grad_(True)
        y, y_ref = mine(x), ref(x2)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        g = torch.randn_like(y)
        y.backward(g)
        y_ref.backward(g)
        torch.testing.assert_close(x.grad, x2.grad, atol=1e-5, rtol=1e-4)
        if affine:
            torch.testing.assert_close(mine.weight.grad, ref.weight.grad, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(mine.bias.grad, ref.bias.grad, atol=1e-4, rtol=1e-4)
            mine.zero_grad()
            ref.zero_grad()
    torch.testing.assert_close(mine.running_mean, ref.running_mean)
    torch.testing.assert_close(mine.running_var, ref.running_var)
    assert int(mine.num_batches_tracked) == int(ref.num_batches_tracked) == 3
    mine.eval()
    ref.eval()
    x = torch.randn(shape, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y, y_ref = mine(x), ref(x2)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    y.sum().backward()
    y_ref.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-5, rtol=1e-5)


def test_running_stats_do_not_keep_graph():
    bn = BatchNorm(4)
    x = torch.randn(8, 4, requires_grad=True)
    bn(x).sum().backward()
    assert not bn.running_mean.requires_grad and bn.running_mean.grad_fn is None
    assert bn.running_var.grad_fn is None


def test_state_dict_swaps_with_torch():
    assert set(BatchNorm(3).state_dict()) == set(nn.BatchNorm1d(3).state_dict())


def test_no_running_stats_uses_batch_stats_in_eval():
    torch.manual_seed(1)
    ref = nn.BatchNorm2d(3, track_running_stats=False).eval()
    mine = BatchNorm(3, track_running_stats=False).eval()
    x = torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(mine(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"num_features": 0}, "num_features"),
        ({"num_features": 2, "eps": 0}, "eps"),
        ({"num_features": 2, "momentum": 1.5}, "momentum"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm(**kw)


def test_bad_shape():
    with pytest.raises(ValueError, match=r"\(5,\)"):
        BatchNorm(5)(torch.randn(5))
    with pytest.raises(ValueError, match="expected 3"):
        BatchNorm(3)(torch.randn(4, 2))
