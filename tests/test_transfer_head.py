"""Unit tests for the transfer-head experiment's pieces (fast, no pretraining)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.experiments.transfer_head import FrozenFeatures, few_labels, train_stacked
from deltalab.models.mnist1d_models import Conv1dNet


def test_few_labels_draws_per_class_from_the_named_classes():
    y = torch.arange(10).repeat(20)
    idx = few_labels(y, (7, 8, 9), 5, seed=0)
    assert len(idx) == 15 and len(set(idx.tolist())) == 15
    assert torch.equal(y[idx].bincount(minlength=10)[7:], torch.tensor([5, 5, 5]))
    assert torch.equal(idx, few_labels(y, (7, 8, 9), 5, seed=0))
    assert not torch.equal(idx, few_labels(y, (7, 8, 9), 5, seed=1))


def test_frozen_features_shape_and_no_trainable_parameters():
    net = Conv1dNet(40, 7)
    f = FrozenFeatures(net)
    out = f(torch.randn(6, 40))
    assert out.shape == (6, 25 * 5 + 2 * 3 * 25)  # last layer flattened + mean/max of 3 layers
    assert not any(p.requires_grad for p in f.parameters())


def test_train_stacked_matches_separate_torch_adamw_runs():
    """M models trained at once, each with its own data, rate and decay == M torch AdamW runs."""
    torch.manual_seed(0)
    models = [Conv1dNet(40, 3) for _ in range(3)]
    x, y = torch.randn(3, 12, 40), torch.randint(0, 3, (3, 12))
    lrs, wds = [1e-3, 1e-2, 3e-2], [1e-4, 1e-1, 1e-2]
    x_te = torch.randn(20, 40)
    got = train_stacked(
        models,
        x,
        y,
        torch.tensor(lrs),
        torch.tensor(wds),
        {5: lambda fwd: fwd(x_te), 7: lambda fwd: fwd(x_te)},
    )
    for m, (net, lr, wd) in enumerate(zip(models, lrs, wds, strict=True)):
        ref = Conv1dNet(40, 3)
        ref.load_state_dict(net.state_dict())
        opt = torch.optim.AdamW(ref.parameters(), lr=lr, weight_decay=wd)
        for step in range(1, 8):
            loss = F.cross_entropy(ref(x[m]), y[m])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step in (5, 7):
                with torch.no_grad():
                    torch.testing.assert_close(got[step][m], ref(x_te), atol=1e-5, rtol=1e-4)


def test_train_stacked_leaves_the_models_untouched():
    torch.manual_seed(0)
    models = [nn.Linear(4, 3) for _ in range(2)]
    before = [m.weight.clone() for m in models]
    train_stacked(
        models,
        torch.randn(2, 5, 4),
        torch.randint(0, 3, (2, 5)),
        torch.tensor([0.1, 0.1]),
        torch.tensor([0.0, 0.0]),
        {3: lambda fwd: fwd(torch.randn(1, 4))},
    )
    assert all(torch.equal(b, m.weight) for b, m in zip(before, models, strict=True))


def test_few_labels_draw_only_from_the_pool():
    y = torch.arange(60) % 10
    pool = torch.arange(60) < 30
    idx = few_labels(y, (7, 8, 9), 2, seed=0, pool=pool)
    assert pool[idx].all() and sorted(y[idx].tolist()) == [7, 7, 8, 8, 9, 9]


def test_conv1d_forward_stacked_is_vmap_of_the_module():
    """The channels-last im2col forward of M stacked nets == vmap over functional_call of the module."""
    from torch.func import functional_call, stack_module_state, vmap

    torch.manual_seed(0)
    nets = [Conv1dNet(37, 4, channels=6) for _ in range(3)]
    params, _ = stack_module_state(nets)
    x = torch.randn(3, 5, 37)
    ref = vmap(lambda p, xb: functional_call(nets[0], p, (xb,)))(params, x)
    torch.testing.assert_close(nets[0].forward_stacked(params, x), ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(nets[1].forward_stacked(params, x)[1], nets[1](x[1]), atol=1e-6, rtol=1e-5)
