"""CycleGAN: two generators, two discriminators and the cycle-consistency L1 for unpaired domains.

Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks" (arXiv:1703.10593). With G: A → B, F: B → A and discriminators D_A, D_B:

    L_G = L_adv(G, D_B) + L_adv(F, D_A) + λ_cyc (‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁)
          + λ_id (‖G(b) − b‖₁ + ‖F(a) − a‖₁)          (identity loss, optional)

Departures: (1) the non-saturating GAN loss shared with ``models.gan`` instead of the paper's least
squares; (2) three-layer convolutional generators and two-layer discriminators for 8×8 images,
no image history buffer; (3) ``extra_loss`` lets Recycle-GAN add its temporal terms to L_G;
(4) the paper's generator design (instance normalization, Ulyanov et al. arXiv:1607.08022, and a
tanh output on images scaled to [−1, 1]) is an option (``norm=True``): the plain sigmoid generator
works on dense digits but on sparse frames (a 2×2 square on 8×8) both generators fall into the
blank-background solution within ~100 steps (the L1 cycle optimum of a constant image is the
background, then the sigmoid saturates and no gradient is left); instance norm keeps the sparse
object in every feature map.

Shapes: B batch, images (B, 1, H, W) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.gan import discriminator_loss, generator_loss


class ConvGenerator(nn.Module):
    """Same-size image-to-image net: conv → ReLU → conv → ReLU → conv → sigmoid.

    ``norm=True``: CycleGAN's design, conv → InstanceNorm → ReLU (twice) → conv → tanh on the
    input scaled to [−1, 1], output mapped back to [0, 1].
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, hidden_channels: int = 32, norm: bool = False
    ) -> None:
        super().__init__()
        self.norm = norm

        def block(c_in: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, hidden_channels, 3, padding=1)
            return [conv, nn.InstanceNorm2d(hidden_channels), nn.ReLU()] if norm else [conv, nn.ReLU()]

        self.net = nn.Sequential(
            *block(in_channels),
            *block(hidden_channels),
            nn.Conv2d(hidden_channels, out_channels, 3, padding=1),
            nn.Tanh() if norm else nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            return (self.net(2 * x - 1) + 1) / 2  # (B, C_out, H, W) in [0, 1]
        return self.net(x)  # (B, C_out, H, W)


class ConvDiscriminator(nn.Module):
    """conv stride 2 → LeakyReLU → conv stride 2 → LeakyReLU → mean-pooled logit (B,)."""

    def __init__(self, in_channels: int = 1, hidden_channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden_channels, 2 * hidden_channels, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * hidden_channels, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=(1, 2, 3))


@dataclass
class CycleGANConfig:
    """Knobs of the CycleGAN loop."""

    steps: int = 1000
    """generator updates (each after one update of both discriminators)"""
    batch_size: int = 64
    """images per domain per step"""
    lr: float = 1e-3
    """Adam learning rate for all nets"""
    lambda_cyc: float = 10.0
    """weight of the cycle-consistency L1"""
    lambda_id: float = 0.0
    """weight of the identity L1 (0: off)"""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if self.lambda_cyc < 0 or self.lambda_id < 0:
            raise ValueError(f"loss weights must be >= 0, got {self.lambda_cyc}, {self.lambda_id}")


class CycleGAN(nn.Module):
    """G_ab, G_ba (generators; ``norm``: instance-norm tanh design) and D_a, D_b (discriminators)."""

    def __init__(self, channels: int = 1, hidden_channels: int = 32, norm: bool = False) -> None:
        super().__init__()
        self.G_ab, self.G_ba = (
            ConvGenerator(channels, channels, hidden_channels, norm),
            ConvGenerator(channels, channels, hidden_channels, norm),
        )
        self.D_a, self.D_b = (
            ConvDiscriminator(channels, hidden_channels),
            ConvDiscriminator(channels, hidden_channels),
        )


def train_cyclegan(
    model: CycleGAN,
    sample_a: Callable[[int], torch.Tensor],
    sample_b: Callable[[int], torch.Tensor],
    cfg: CycleGANConfig,
    extra_loss: Callable[[CycleGAN], torch.Tensor] | None = None,
    extra_params: list[nn.Parameter] | None = None,
) -> dict[str, list[float]]:
    """Unpaired training: one D step on both discriminators, then one step on both generators.

    ``extra_loss(model)`` is added to the generator objective (with ``extra_params`` optimized
    alongside the generators) — the hook Recycle-GAN uses for its predictors and recycle loss.
    ``cfg.lambda_cyc = 0`` drops the cycle term (it is still logged): Recycle-GAN's own objective.
    """
    g_params = [*model.G_ab.parameters(), *model.G_ba.parameters(), *(extra_params or [])]
    opt_g = torch.optim.Adam(g_params, lr=cfg.lr, betas=(0.5, 0.999))
    d_params = [*model.D_a.parameters(), *model.D_b.parameters()]
    opt_d = torch.optim.Adam(d_params, lr=cfg.lr, betas=(0.5, 0.999))
    hist: dict[str, list[float]] = {"d_loss": [], "g_adv": [], "cycle_l1": [], "extra": []}
    # a hand-written loop: the alternation of the discriminators' and generators' steps is the method
    for _ in range(cfg.steps):
        a, b = sample_a(cfg.batch_size), sample_b(cfg.batch_size)
        # One generator pass serves both updates: the generators do not change during the D step,
        # so the detached fakes are exactly the ones the D step would recompute.
        fake_b, fake_a = model.G_ab(a), model.G_ba(b)
        d_loss = discriminator_loss(model.D_b(b), model.D_b(fake_b.detach())) + discriminator_loss(
            model.D_a(a), model.D_a(fake_a.detach())
        )
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        for p in d_params:  # the G step needs gradients through D, not D's own (reset before use)
            p.requires_grad_(False)
        adv = generator_loss(model.D_b(fake_b)) + generator_loss(model.D_a(fake_a))
        with torch.set_grad_enabled(cfg.lambda_cyc > 0):  # λ_cyc = 0: logged only, no graph
            cyc = (model.G_ba(fake_b) - a).abs().mean() + (model.G_ab(fake_a) - b).abs().mean()
        loss = adv + cfg.lambda_cyc * cyc if cfg.lambda_cyc > 0 else adv
        if cfg.lambda_id > 0:
            loss = loss + cfg.lambda_id * (
                (model.G_ab(b) - b).abs().mean() + (model.G_ba(a) - a).abs().mean()
            )
        extra = extra_loss(model) if extra_loss is not None else torch.zeros(())
        loss = loss + extra
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        for p in d_params:
            p.requires_grad_(True)
        hist["d_loss"].append(d_loss.item())
        hist["g_adv"].append(adv.item())
        hist["cycle_l1"].append(cyc.item() / 2)
        hist["extra"].append(extra.item())
    return hist
