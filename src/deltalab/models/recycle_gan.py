"""Recycle-GAN: CycleGAN plus temporal predictors and the recycle loss on short clips.

Bansal, Ma, Ramanan, Sheikh, "Recycle-GAN: Unsupervised Video Retargeting" (arXiv:1808.05174).
Predictors P_A, P_B guess the next frame from the two before it; with G: A → B, F: B → A,

    L_τ   = Σ_t ‖x_{t+1} − P_X(x_{t−1}, x_t)‖²                      (recurrent, both domains)
    L_rec = Σ_t ‖a_{t+1} − F(P_B(G(a_{t−1}), G(a_t)))‖₁  (+ the same from B)   (recycle)

added to CycleGAN's adversarial and cycle losses (``models.cyclegan.train_cyclegan``'s hook).

Departures: (1) the predictors see two past frames and are the same small conv nets as the
generators (``norm``: the instance-norm tanh design); (2) L1 for the recycle term and squared error for L_τ, both averaged over pixels.

Shapes: N clips, T frames; clips (N, T, 1, H, W); triples (B, 3, 1, H, W).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from deltalab.models.cyclegan import ConvGenerator, CycleGAN


class TemporalPredictor(nn.Module):
    """(x_{t−1}, x_t) each (B, 1, H, W) → x̂_{t+1} (B, 1, H, W)."""

    def __init__(self, hidden: int = 32, norm: bool = False) -> None:
        super().__init__()
        self.net = ConvGenerator(in_channels=2, out_channels=1, hidden=hidden, norm=norm)

    def forward(self, prev: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([prev, cur], dim=1))


def triples(clips: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n random consecutive frame triples (n, 3, 1, H, W) from clips (N, T, 1, H, W)."""
    if clips.dim() != 5 or clips.shape[1] < 3:
        raise ValueError(f"clips must be (N, T >= 3, C, H, W), got {tuple(clips.shape)}")
    i = torch.randint(0, clips.shape[0], (n,), generator=generator)
    t = torch.randint(0, clips.shape[1] - 2, (n,), generator=generator)
    idx = t[:, None] + torch.arange(3)[None]  # (n, 3)
    return clips[i[:, None].to(clips.device), idx.to(clips.device)]


def recycle_loss_fn(
    p_a: TemporalPredictor,
    p_b: TemporalPredictor,
    clips_a: torch.Tensor,
    clips_b: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    lambda_rec: float = 10.0,
    lambda_pred: float = 10.0,
) -> Callable[[CycleGAN], torch.Tensor]:
    """The ``extra_loss`` hook for ``train_cyclegan``: λ_rec L_rec + λ_pred L_τ on fresh triples."""

    def loss(model: CycleGAN) -> torch.Tensor:
        a, b = triples(clips_a, batch_size, generator), triples(clips_b, batch_size, generator)
        rec_a = (a[:, 2] - model.G_ba(p_b(model.G_ab(a[:, 0]), model.G_ab(a[:, 1])))).abs().mean()
        rec_b = (b[:, 2] - model.G_ab(p_a(model.G_ba(b[:, 0]), model.G_ba(b[:, 1])))).abs().mean()
        pred = (p_a(a[:, 0], a[:, 1]) - a[:, 2]).pow(2).mean() + (p_b(b[:, 0], b[:, 1]) - b[:, 2]).pow(
            2
        ).mean()
        return lambda_rec * (rec_a + rec_b) + lambda_pred * pred

    return loss
