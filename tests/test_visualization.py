"""The visualization experiment's ascent box: a per-pixel clamp (tensor bounds) holds each pixel in its range."""

import torch
from torch import nn

from deltalab.analysis.saliency import ActMaxConfig, activation_maximization


def test_activation_maximization_stays_in_a_per_pixel_box():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    hi = torch.full((1, 8, 8), 0.8)
    hi[..., 0] = 0.0  # a blank column, as in the digits' border
    hi[..., 7] = 0.2
    init = hi * torch.rand(6, 1, 8, 8)
    cfg = ActMaxConfig(steps=20, lr=0.1, blur_every=4, jitter=0, clamp=(torch.zeros_like(hi), hi))
    x = activation_maximization(model, torch.arange(3).repeat(2), init, cfg)
    assert (x >= 0).all() and (x <= hi).all()
    assert (x[..., 0] == 0).all()
    # the logit still rises inside the box
    t = torch.arange(3).repeat(2).view(-1, 1)
    with torch.no_grad():
        assert (model(x).gather(1, t) > model(init).gather(1, t)).all()
