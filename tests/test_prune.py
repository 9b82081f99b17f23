"""Magnitude pruning (layer-wise, global, iterative) and the lottery-ticket tools."""

import pytest
import torch
from torch import nn

from deltalab.experiments.pruning import SPARSITIES
from deltalab.prune.lottery import iterative_magnitude_pruning, random_reinit_, rewind_, snapshot
from deltalab.prune.magnitude import (
    apply_masks,
    expected_remaining,
    layer_rates,
    make_permanent,
    masks,
    prune_global,
    prune_global_to,
    prune_layerwise,
    remaining_fraction,
    sparsity_report,
)


def lenet_300_100():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)
    )


def test_lottery_ticket_paper_remaining_labels():
    # Frankle & Carbin Fig. 3: 20% of FC weights per round, 10% of the output layer.
    torch.manual_seed(0)
    net = lenet_300_100()
    rates = layer_rates(net, 0.2, output_rate=0.1)
    assert rates == [0.2, 0.2, 0.1]
    labels = {3: 51.3, 7: 21.1, 9: 13.5, 12: 7.0, 15: 3.6}
    sizes = [784 * 300, 300 * 100, 100 * 10]
    for r, label in labels.items():
        assert round(100 * expected_remaining(sizes, rates, r), 1) == label
    for r in range(1, 16):
        prune_layerwise(net, rates)  # torch applies each rate to the remaining weights
        if r in labels:
            assert round(100 * remaining_fraction(net), 1) == labels[r]


def test_layerwise_prunes_smallest_and_report():
    lin = nn.Sequential(nn.Linear(4, 2))
    with torch.no_grad():
        lin[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.1, 3.0], [-0.2, 0.5, 4.0, -5.0]]))
    prune_layerwise(lin, 0.25)
    assert masks(lin)["0"].tolist() == [[1, 1, 0, 1], [0, 1, 1, 1]]
    rep = sparsity_report(lin)
    assert rep[-1] == {"layer": "total", "weights": 8, "remaining": 6, "fraction": 0.75}
    make_permanent(lin)
    assert (lin[0].weight == 0).sum() == 2 and remaining_fraction(lin) == 0.75


def test_global_prunes_across_layers():
    net = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10))
    with torch.no_grad():
        net[0].weight.fill_(0.01)
        net[1].weight.fill_(1.0)
    prune_global(net, 0.5)
    rep = sparsity_report(net)
    assert rep[0]["remaining"] == 0 and rep[1]["remaining"] == 100


def test_imp_rewinds_to_init_and_keeps_masks():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    init = snapshot(net)
    seen = []

    def train(m):
        seen.append({k: v.clone() for k, v in snapshot(m).items()})
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn_like(p))
        return remaining_fraction(m)

    hist = iterative_magnitude_pruning(net, train, rounds=3, rate=0.5, output_rate=0.25)
    assert [h.round for h in hist] == [0, 1, 2, 3]
    assert hist[0].remaining == 1.0 and hist[-1].remaining < hist[1].remaining
    for s in seen:  # every round starts from θ0
        for k in init:
            torch.testing.assert_close(s[k], init[k])
    ticket_mask = hist[-1].masks
    twin = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    apply_masks(twin, ticket_mask)
    random_reinit_(twin, torch.Generator().manual_seed(1))
    assert remaining_fraction(twin) == pytest.approx(hist[-1].remaining)
    assert not torch.equal(twin[0].weight_orig, init["0.weight"])
    assert torch.all(twin[0].weight[ticket_mask["0"] == 0] == 0)
    rewind_(twin, init)
    torch.testing.assert_close(twin[0].weight, init["0.weight"] * ticket_mask["0"])


def test_bad_values():
    net = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="1.5"):
        prune_layerwise(net, 1.5)
    with pytest.raises(ValueError, match="one rate per"):
        prune_layerwise(net, [0.1, 0.2])
    with pytest.raises(ValueError, match="-1"):
        expected_remaining([1], [0.1], -1)
    with pytest.raises(ValueError, match="nope"):
        rewind_(net, {"nope": torch.zeros(1)})


def test_prune_global_to_reaches_each_target_of_a_schedule():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    total = 64 * 256 + 256 * 256 + 256 * 10
    for s in SPARSITIES:  # the pruning experiment's IMP sweep
        prune_global_to(net, s)
        assert abs((1 - remaining_fraction(net)) - s) <= 1 / total
    one = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    prune_global_to(one, 0.98)  # one-shot: a single call
    assert abs(remaining_fraction(one) - 0.02) < 1e-3
    with pytest.raises(ValueError, match="already"):
        prune_global_to(one, 0.9)
