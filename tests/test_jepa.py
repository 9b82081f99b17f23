"""I-JEPA pieces: the linear EMA schedule, multi-block masks (targets disjoint from the context), the
per-target predictor's shapes, instance-normed targets and a short training run that moves the target
only through the EMA."""

from __future__ import annotations

import pytest
import torch

from deltalab.models.ssl.ema import linear_momentum
from deltalab.models.ssl.encoders import PatchTransformer
from deltalab.models.ssl.jepa import JEPA, JEPAConfig, block_size, sample_multiblock, train_jepa


def test_momentum_schedule_is_linear_from_start_to_end():
    steps = 11
    taus = [linear_momentum(k, steps, 0.996, 1.0) for k in range(steps)]
    assert taus[0] == pytest.approx(0.996) and taus[-1] == pytest.approx(1.0)
    diffs = [b - a for a, b in zip(taus, taus[1:])]
    assert all(d == pytest.approx(0.0004) for d in diffs)
    assert linear_momentum(50, steps, 0.996, 1.0) == pytest.approx(1.0)  # clamped past the end
    assert linear_momentum(0, 1, 0.99, 1.0) == 0.99


@pytest.mark.parametrize("grid", [4, 8])
def test_multiblock_targets_are_disjoint_from_context(grid):
    cfg = JEPAConfig()
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        targets, context = sample_multiblock(64, grid, cfg, g)
        b, k, t = targets.shape
        assert (b, k) == (64, cfg.num_targets) and context.shape[0] == 64
        assert context.shape[1] >= cfg.min_context
        assert int(targets.max()) < grid * grid and int(targets.min()) >= 0
        for i in range(b):
            assert not set(targets[i].flatten().tolist()) & set(context[i].tolist())
            assert len(set(context[i].tolist())) == context.shape[1]  # no duplicated context patch


def test_target_blocks_are_contiguous_rectangles_of_one_size():
    grid = 8
    targets, _ = sample_multiblock(16, grid, JEPAConfig(), torch.Generator().manual_seed(1))
    t = targets.shape[-1]
    for block in targets.flatten(0, 1):
        rows, cols = block // grid, block % grid
        h, w = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
        assert h * w == t == len(set(block.tolist()))


def test_block_size_follows_scale_and_aspect():
    assert block_size(0.25, 1.0, 8) == (4, 4)
    h, w = block_size(0.18, 1.5, 8)
    assert h > w and abs(h * w - 0.18 * 64) <= 3
    assert block_size(0.01, 1.0, 4) == (1, 1)  # at least one patch


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="num_targets"):
        JEPAConfig(num_targets=0)
    with pytest.raises(ValueError, match="target_scale"):
        JEPAConfig(target_scale=(0.3, 0.2))
    with pytest.raises(ValueError, match="momentum"):
        JEPAConfig(momentum=0.999, final_momentum=0.99)


def test_forward_is_a_scalar_and_only_online_parts_get_gradients():
    torch.manual_seed(0)
    model = JEPA(PatchTransformer())
    x = torch.rand(8, 1, 8, 8)
    targets, context = sample_multiblock(8, 4, JEPAConfig(), torch.Generator().manual_seed(0))
    loss = model(x, targets, context)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in model.target.parameters())
    assert model.encoder.embed.weight.grad is not None and model.mask_token.grad is not None


def test_target_moves_by_the_ema_only():
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    encoder = PatchTransformer()
    init = [p.detach().clone() for p in encoder.parameters()]
    frozen, _ = train_jepa(encoder, x, JEPAConfig(steps=3, batch_size=8, momentum=1.0), seed=0)
    assert all(not p.requires_grad for p in frozen.target.parameters())
    assert all(torch.equal(a, b) for a, b in zip(init, frozen.target.parameters()))  # τ = 1: never moves
    assert not all(torch.equal(a, b) for a, b in zip(init, frozen.encoder.parameters()))  # the online did
    cfg = JEPAConfig(steps=3, batch_size=8, momentum=0.0, final_momentum=0.0)
    model, losses = train_jepa(PatchTransformer(), x, cfg, seed=0)
    assert len(losses) == 3
    assert all(
        torch.equal(a, b) for a, b in zip(model.encoder.parameters(), model.target.parameters())
    )  # τ = 0: a copy


def test_instance_normed_targets_are_standardized_over_each_images_patches():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    plain = JEPA(PatchTransformer())
    assert not plain.target_instance_norm  # off by default: I-JEPA's layer-normed targets
    model = JEPA(PatchTransformer(), target_instance_norm=True)
    s = model.target_tokens(x)  # (B, P, E)
    assert s.shape == (4, 16, 64)
    torch.testing.assert_close(s.mean(1), torch.zeros(4, 64), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.var(1, unbiased=False), torch.ones(4, 64), atol=1e-2, rtol=0)
    # a vector shared by every patch of an image is no part of the target: shifting the target
    # encoder's output by one (its final LayerNorm's bias) leaves the instance-normed tokens unchanged
    raw = JEPA(PatchTransformer(), target_norm=False, target_instance_norm=True)
    before = raw.target_tokens(x)
    torch.testing.assert_close(before.mean(1), torch.zeros(4, 64), atol=1e-5, rtol=0)
    with torch.no_grad():
        raw.target.blocks.norm.bias.add_(torch.randn(64))
    torch.testing.assert_close(raw.target_tokens(x), before, atol=1e-4, rtol=0)


def test_train_jepa_passes_the_instance_norm_option():
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    cfg = JEPAConfig(steps=2, batch_size=8, target_instance_norm=True)
    model, losses = train_jepa(PatchTransformer(), x, cfg, seed=0)
    assert model.target_instance_norm and len(losses) == 2
    assert all(0 < v < 10 for v in losses)  # unit-variance targets: a loss of order 1
