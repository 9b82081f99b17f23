import pytest
import torch

from deltalab.models.ssl.augment import ABLATIONS, NO_AUGMENT, Augment, AugmentConfig


def test_identity_config_returns_the_input():
    x = torch.rand(5, 1, 8, 8)
    assert torch.allclose(Augment(NO_AUGMENT)(x, torch.Generator().manual_seed(0)), x, atol=1e-6)


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_views_are_seeded_shaped_and_random(name):
    x = torch.rand(6, 1, 8, 8)
    aug = Augment(ABLATIONS[name])
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()


def test_rotation_by_zero_scale_one_keeps_mass_and_rotation_moves_it():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1:7, 3:5] = 1.0  # a vertical bar
    cfg = AugmentConfig(
        crop_scale=(1.0, 1.0), max_shift=0, max_rotation=90, noise_std=0, gain=(1, 1), cutout=0
    )
    out = Augment(cfg)(x.expand(16, 1, 8, 8).contiguous(), torch.Generator().manual_seed(0))
    assert not torch.allclose(out, x.expand_as(out))
    assert (out.sum((1, 2, 3)) > 0.5 * x.sum()).all()


def test_full_cutout_zeroes_a_square():
    x = torch.ones(4, 1, 8, 8)
    cfg = AugmentConfig(
        crop_scale=(1.0, 1.0), max_shift=0, max_rotation=0, noise_std=0, gain=(1, 1), cutout=3, cutout_p=1.0
    )
    out = Augment(cfg)(x, torch.Generator().manual_seed(0))
    zeros = (out == 0).flatten(1).sum(1)
    assert ((zeros >= 4) & (zeros <= 9)).all()  # a 3x3 square, clipped at the border


def test_bad_config_raises_with_the_value():
    with pytest.raises(ValueError, match="1.5"):
        AugmentConfig(crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        Augment()(torch.rand(8, 8))
