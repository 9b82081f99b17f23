"""Generative adversarial networks: MLP generator / discriminator and the alternating training loop.

Goodfellow et al., "Generative Adversarial Networks" (arXiv:1406.2661); label conditioning as in
Mirza & Osindero, "Conditional Generative Adversarial Nets" (arXiv:1411.1784); spectral norm from
Miyato et al. (arXiv:1802.05957); the R1 penalty from Mescheder et al. (arXiv:1801.04406).

One training step (k = ``d_steps`` discriminator updates, then one generator update):

    L_D = −E log σ(D(x)) − E log(1 − σ(D(G(z))))  [+ γ/2 E ‖∇_x D(x)‖²  (R1)]
    L_G = −E log σ(D(G(z)))                          (non-saturating; the minimax form
                                                       log(1 − σ(D(G(z)))) saturates early)

With labels, G and D both receive a learned label embedding concatenated to their input.

Departures: (1) MLPs throughout (8×8 digits are 64 numbers); (2) Adam with β1 = 0.5, the DCGAN
setting, rather than the paper's SGD with momentum.

Shapes: B batch, Z latent, D data dimensions (flattened), K classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def _mlp(sizes: list[int], spectral: bool, act: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(nn.utils.parametrizations.spectral_norm(lin) if spectral else lin)
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """z (B, Z) [, labels (B,)] → x (B, D); ``out`` = "sigmoid" for images in [0, 1], else linear."""

    def __init__(
        self,
        latent_dim: int,
        out_features: int,
        hidden: int = 128,
        depth: int = 2,
        num_classes: int = 0,
        out: str = "linear",
    ) -> None:
        super().__init__()
        if out not in ("linear", "sigmoid"):
            raise ValueError(f"out must be 'linear' or 'sigmoid', got {out!r}")
        self.latent_dim, self.num_classes, self.out = latent_dim, num_classes, out
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        extra = latent_dim if num_classes else 0
        self.net = _mlp([latent_dim + extra] + [hidden] * depth + [out_features], False, nn.ReLU)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels")
            z = torch.cat([z, self.embed(labels)], dim=1)  # (B, 2Z)
        x = self.net(z)
        return torch.sigmoid(x) if self.out == "sigmoid" else x


class Discriminator(nn.Module):
    """x (B, D) [, labels (B,)] → logit (B,)."""

    def __init__(
        self,
        in_features: int,
        hidden: int = 128,
        depth: int = 2,
        num_classes: int = 0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, 16) if num_classes else None
        extra = 16 if num_classes else 0
        self.net = _mlp(
            [in_features + extra] + [hidden] * depth + [1], spectral_norm, lambda: nn.LeakyReLU(0.2)
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels")
            x = torch.cat([x, self.embed(labels)], dim=1)
        return self.net(x).squeeze(1)


def discriminator_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """−log σ(D(x)) − log(1 − σ(D(G(z)))), written with softplus for stability."""
    return F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()


def generator_loss(fake_logit: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss −log σ(D(G(z)))."""
    return F.softplus(-fake_logit).mean()


@dataclass
class GANConfig:
    """The alternating loop's knobs."""

    steps: int = 2000
    """generator updates"""
    batch_size: int = 128
    """samples per step (real and fake)"""
    lr_g: float = 2e-4
    """generator Adam learning rate"""
    lr_d: float = 2e-4
    """discriminator Adam learning rate"""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas (DCGAN's β1 = 0.5)"""
    d_steps: int = 1
    """discriminator updates per generator update"""
    r1_gamma: float = 0.0
    """R1 gradient-penalty weight γ on real data (0: off)"""
    history: dict[str, list[float]] = field(default_factory=dict)
    """filled by ``train_gan``: per-step d_loss, g_loss, d_real, d_fake"""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.d_steps < 1:
            raise ValueError(
                f"steps, batch_size, d_steps must be >= 1, got {self.steps}, {self.batch_size}, {self.d_steps}"
            )
        if self.r1_gamma < 0:
            raise ValueError(f"r1_gamma must be >= 0, got {self.r1_gamma}")


def train_gan(
    G: Generator,
    D: Discriminator,
    sample_real: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]],
    cfg: GANConfig,
    generator: torch.Generator | None = None,
) -> dict[str, list[float]]:
    """Alternate ``cfg.d_steps`` D updates and one G update ``cfg.steps`` times; returns the history.

    ``sample_real(n)`` returns (x (n, D), labels (n,) or None); fake samples of a conditional GAN
    use the real batch's labels, so that D sees the same label distribution on both sides.
    """
    device = next(G.parameters()).device
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    hist: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    for _ in range(cfg.steps):
        for _ in range(cfg.d_steps):
            x, y = sample_real(cfg.batch_size)
            z = torch.randn(cfg.batch_size, G.latent_dim, generator=generator).to(device)
            with torch.no_grad():
                fake = G(z, y)
            x = x.requires_grad_(cfg.r1_gamma > 0)
            real_logit, fake_logit = D(x, y), D(fake, y)
            d_loss = discriminator_loss(real_logit, fake_logit)
            if cfg.r1_gamma > 0:
                (grad,) = torch.autograd.grad(real_logit.sum(), x, create_graph=True)
                d_loss = d_loss + 0.5 * cfg.r1_gamma * grad.pow(2).flatten(1).sum(1).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        z = torch.randn(cfg.batch_size, G.latent_dim, generator=generator).to(device)
        g_loss = generator_loss(D(G(z, y), y))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        hist["d_loss"].append(d_loss.item())
        hist["g_loss"].append(g_loss.item())
        hist["d_real"].append(torch.sigmoid(real_logit).mean().item())
        hist["d_fake"].append(torch.sigmoid(fake_logit).mean().item())
    cfg.history = hist
    return hist
