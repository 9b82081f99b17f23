"""FGSM and iterated FGSM on any classifier; saliency tools."""

import pytest
import torch
from torch import nn

from deltalab.analysis.saliency import (
    ActMaxConfig,
    activation_maximization,
    deconv_projection,
    gaussian_blur,
    saliency_map,
)
from deltalab.eval.adversarial import accuracy_under_attack, fgsm, input_gradient, iterative_fgsm


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Linear(16, 3)


def test_fgsm_is_eps_times_sign_of_gradient(linear):
    x, y = torch.rand(8, 16) * 0.6 + 0.2, torch.randint(3, (8,))
    g = input_gradient(linear, x, y)
    torch.testing.assert_close(fgsm(linear, x, y, 0.1), x + 0.1 * g.sign())
    assert fgsm(linear, x, y, 0.5).max() <= 1 and fgsm(linear, x, y, 0.5).min() >= 0
    assert linear.weight.grad is None


def test_iterated_stays_in_ball_and_hurts_more(linear):
    x, y = torch.rand(64, 16), torch.randint(3, (64,))
    xa = iterative_fgsm(linear, x, y, 0.05, steps=5)
    assert (xa - x).abs().max() <= 0.05 + 1e-6
    loss = nn.functional.cross_entropy
    assert loss(linear(xa), y) >= loss(linear(fgsm(linear, x, y, 0.05)), y) - 1e-6


def test_accuracy_curve_decreases(linear):
    x = torch.rand(64, 16)
    y = linear(x).argmax(-1)
    accs = accuracy_under_attack(linear, x, y, [0.0, 0.1, 0.3])
    assert accs[0] == 1.0 and accs[2] < accs[0]


def test_bad_eps_raises(linear):
    with pytest.raises(ValueError, match="-0.1"):
        fgsm(linear, torch.rand(2, 16), torch.zeros(2, dtype=torch.long), -0.1)


def _tiny_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3)
    )


def test_activation_maximization_raises_logit():
    model = _tiny_cnn()
    init = torch.full((3, 1, 8, 8), 0.3)
    x = activation_maximization(model, torch.arange(3), init, ActMaxConfig(steps=30, blur_every=0, jitter=0))
    with torch.no_grad():
        assert (
            model(x).gather(1, torch.arange(3).view(-1, 1))
            > model(init).gather(1, torch.arange(3).view(-1, 1))
        ).all()
    assert x.min() >= 0 and x.max() <= 1
    assert all(p.requires_grad for p in model.parameters())


def test_saliency_and_deconv_shapes():
    model = _tiny_cnn()
    x = torch.rand(2, 1, 8, 8)
    assert saliency_map(model, x).shape == (2, 8, 8)
    proj = deconv_projection(list(model[:3]), x, channel=1)
    assert proj.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="channel"):
        deconv_projection(list(model[:3]), x, channel=9)


def test_blur_preserves_constant():
    x = torch.full((1, 2, 6, 6), 0.7)
    torch.testing.assert_close(gaussian_blur(x, 0.8), x)
    with pytest.raises(ValueError, match="steps"):
        ActMaxConfig(steps=0)
