"""The averaged perceptron's O(1) bookkeeping equals the brute-force mean of the weights."""

import pytest
import torch

from deltalab.models.perceptron import Perceptron, with_bias


def _brute_force_mean(x: torch.Tensor, t: torch.Tensor, classes: int, orders: list[torch.Tensor]):
    """Replay the rule, summing the weights after every example."""
    p = Perceptron(x.shape[1], num_classes=classes)
    total, seen = torch.zeros_like(p.weight), 0
    for order in orders:
        for i in order.tolist():
            p.epoch(x[i : i + 1], t[i : i + 1])
            total += p.weight
            seen += 1
    return total / seen, p.weight


@pytest.mark.parametrize("classes", [2, 4])
def test_averaged_weight_is_the_mean_of_all_iterates(classes):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 3, generator=g, dtype=torch.float64)
    t = torch.randint(0, classes, (30,), generator=g)
    if classes == 2:
        t = (2 * t - 1).double()
    orders = [torch.randperm(30, generator=g) for _ in range(3)]
    p = Perceptron(3, num_classes=classes, average=True)
    for order in orders:
        p.epoch(x, t, order)
    mean, last = _brute_force_mean(x, t, classes, orders)
    assert torch.allclose(p.weight, last)  # averaging leaves the rule itself alone
    assert torch.allclose(p.averaged_weight(), mean, atol=1e-12)
    scores = with_bias(x) @ mean.T
    expect = scores.argmax(1) if classes > 2 else torch.where(scores[:, 0] >= 0, 1.0, -1.0).double()
    assert torch.equal(p.predict(x, averaged=True), expect)


def test_averaged_weight_needs_average_flag():
    with pytest.raises(ValueError, match="average=True"):
        Perceptron(2).averaged_weight()
