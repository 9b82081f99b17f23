"""Recycle-GAN: CycleGAN plus temporal predictors and the recycle loss on short clips.

Bansal, Ma, Ramanan, Sheikh, "Recycle-GAN: Unsupervised Video Retargeting" (arXiv:1808.05174).
Predictors P_A, P_B guess the next frame from the two before it; with G: A → B, F: B → A,

    L_τ   = Σ_t ‖x_{t+1} − P_X(x_{t−1}, x_t)‖²                      (recurrent, both domains)
    L_rec = Σ_t ‖a_{t+1} − F(P_B(G(a_{t−1}), G(a_t)))‖₁  (+ the same from B)   (recycle)

added to the adversarial losses through ``models.cyclegan.train_cyclegan``'s hook (its cycle loss
too, unless ``lambda_cyc=0``).

Departures: (1) the predictors see two past frames and are small conv nets (``ConvGenerator`` on
the two stacked frames, optional instance norm, off by default); (2) L1 for the recycle term and squared error for L_τ, both averaged over pixels;
(3) ``WindowGenerator``: a translator for small frames whose output pixel sees only a 2×2 input
window, so it cannot learn to move an object (see its docstring). The paper's objective is
adversarial + L_τ + L_rec without the per-frame cycle loss: ``train_cyclegan`` with
``lambda_cyc=0`` and this hook.

Shapes: N clips, T frames; clips (N, T, 1, H, W); triples (B, 3, 1, H, W).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.models.cyclegan import ConvGenerator, CycleGAN


class WindowGenerator(nn.Module):
    """A translator that cannot move content: output pixel (i, j) sees only a 2×2 input window.

    ``anchor="down"``: the window (i..i+1, j..j+1) (the one ``data.restyle`` thickens with);
    ``"up"``: (i−1..i, j−1..j) (the one that thins it back). A 2×2 conv then two 1×1 convs, ReLU,
    tanh on inputs scaled to [−1, 1]; the border is padded with the input domain's background
    ``fill`` (in [0, 1]), so a pixel at the border is treated like one inside. A 3×3-conv generator
    can learn to shift a randomly placed object (GAN and cycle losses accept any shift); this one
    can only render what lies under its window.
    """

    def __init__(self, hidden_channels: int = 16, anchor: str = "down", fill: float = 0.0) -> None:
        super().__init__()
        if anchor not in ("down", "up"):
            raise ValueError(f"anchor must be 'down' or 'up', got {anchor!r}")
        self.pad = (0, 1, 0, 1) if anchor == "down" else (1, 0, 1, 0)  # (left, right, top, bottom)
        self.fill = 2 * fill - 1
        self.net = nn.Sequential(
            nn.Conv2d(1, hidden_channels, 2),
            nn.ReLU(),
            nn.Conv2d(hidden_channels, hidden_channels, 1),
            nn.ReLU(),
            nn.Conv2d(hidden_channels, 1, 1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(2 * x - 1, self.pad, value=self.fill)  # (B, 1, H+1, W+1)
        return (self.net(padded) + 1) / 2  # (B, 1, H, W) in [0, 1]


class TemporalPredictor(nn.Module):
    """(x_{t−1}, x_t) each (B, 1, H, W) → x̂_{t+1} (B, 1, H, W)."""

    def __init__(self, hidden_channels: int = 32, norm: bool = False) -> None:
        super().__init__()
        self.net = ConvGenerator(in_channels=2, out_channels=1, hidden_channels=hidden_channels, norm=norm)

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
