"""Generative adversarial networks: MLP generator / discriminator and the alternating training loop.

Goodfellow et al., "Generative Adversarial Networks" (arXiv:1406.2661); label conditioning as in
Mirza & Osindero, "Conditional Generative Adversarial Nets" (arXiv:1411.1784); spectral norm from
Miyato et al. (arXiv:1802.05957); the R1 penalty from Mescheder et al. (arXiv:1801.04406).

One training step (k = ``d_steps`` discriminator updates, then one generator update):

    L_D = −E log σ(D(x)) − E log(1 − σ(D(G(z))))  [+ γ/2 E ‖∇_x D(x)‖²  (R1)]
    L_G = −E log σ(D(G(z)))                          (non-saturating; the minimax form
                                                       log(1 − σ(D(G(z)))) saturates early)

With labels, G and D both receive a learned label embedding concatenated to their input.

A generator that is a continuous map of a Gaussian cannot put all its mass on disconnected modes
(ten digit classes, eight ring modes): the latent paths between two modes map to samples in the
gap (Khayatkhoei et al., "Disconnected Manifold Learning for Generative Adversarial Networks",
arXiv:1806.00880). ``codes = K`` gives G a discrete latent as well, as InfoGAN's categorical code
(Chen et al., arXiv:1606.03657) without the mutual-information term: the quantile of z₀ under
N(0, 1) picks one of K uniform codes, whose learned embedding joins z. No labels are involved; K
need not equal the number of modes (G can merge codes). ``norm=True`` puts BatchNorm after the
generator's hidden layers, as DCGAN does (Radford et al., arXiv:1511.06434).

Departures: (1) MLPs throughout (8×8 digits are 64 numbers); (2) Adam with β1 = 0.5, the DCGAN
setting, rather than the paper's SGD with momentum.

Shapes: B batch, Z latent, D data dimensions (flattened), K classes or codes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from deltalab.optim.averaging import ema_updater


def _mlp(sizes: list[int], spectral: bool, act: Callable[[], nn.Module], norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(nn.utils.parametrizations.spectral_norm(lin) if spectral else lin)
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(sizes[i + 1]), act()] if norm else [act()]
    return nn.Sequential(*layers)


class LatentCode(nn.Module):
    """z (B, Z) → embedding (B, dim) of the discrete code k = ⌊K · Φ(z₀)⌋, uniform over K codes."""

    def __init__(self, codes: int, dim: int) -> None:
        super().__init__()
        if codes < 2:
            raise ValueError(f"a discrete latent code needs codes >= 2, got {codes}")
        self.codes = codes
        self.embed = nn.Embedding(codes, dim)

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """The code (B,) in [0, codes): the bucket of Φ(z₀), so each code has probability 1/K."""
        return (torch.special.ndtr(z[:, 0]) * self.codes).long().clamp(max=self.codes - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.embed(self.code(z))


class Generator(nn.Module):
    """z (B, Z) [, labels (B,)] → x (B, D); ``out`` = "sigmoid" for images in [0, 1], else linear.

    ``codes`` > 0 adds the discrete latent code read off z₀ (module docstring); ``norm`` adds
    BatchNorm after each hidden layer (sample in ``eval()`` mode: it then uses running statistics).
    """

    def __init__(
        self,
        latent_dim: int,
        out_features: int,
        hidden_dim: int = 128,
        num_layers: int = 2,
        num_classes: int = 0,
        out: str = "linear",
        codes: int = 0,
        norm: bool = False,
    ) -> None:
        super().__init__()
        if out not in ("linear", "sigmoid"):
            raise ValueError(f"out must be 'linear' or 'sigmoid', got {out!r}")
        self.latent_dim, self.num_classes, self.out = latent_dim, num_classes, out
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        self.code = LatentCode(codes, latent_dim) if codes else None
        extra = latent_dim * (bool(num_classes) + bool(codes))
        self.net = _mlp(
            [latent_dim + extra] + [hidden_dim] * num_layers + [out_features], False, nn.ReLU, norm
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        parts = [z]
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels")
            parts.append(self.embed(labels))
        if self.code is not None:
            parts.append(self.code(z))
        x = self.net(torch.cat(parts, dim=1))  # input (B, Z · (1 + labels + codes))
        return torch.sigmoid(x) if self.out == "sigmoid" else x


class Discriminator(nn.Module):
    """x (B, D) [, labels (B,)] → logit (B,)."""

    def __init__(
        self,
        in_features: int,
        hidden_dim: int = 128,
        num_layers: int = 2,
        num_classes: int = 0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, 16) if num_classes else None
        extra = 16 if num_classes else 0
        self.net = _mlp(
            [in_features + extra] + [hidden_dim] * num_layers + [1], spectral_norm, lambda: nn.LeakyReLU(0.2)
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
    r1_every: int = 1
    """apply R1 on every k-th D update only, weighted γ·k (StyleGAN2's lazy regularization,
    arXiv:1912.04958): the double backward is the costliest part of a small GAN's step"""
    foreach: bool | None = None
    """Adam's ``foreach`` flag (None: torch's default, the per-tensor loop on CPU; True: one
    multi-tensor kernel per update, the same arithmetic with less per-tensor overhead)"""
    fused: bool | None = None
    """Adam's ``fused`` flag (True: one fused kernel per update; not with ``foreach``): the same
    update rule, but its rounding differs in the last bits, so a run's numbers change"""
    history: dict[str, list[float]] = field(default_factory=dict)
    """filled by ``train_gan``: per-step d_loss, g_loss, d_real, d_fake"""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.d_steps < 1:
            raise ValueError(
                f"steps, batch_size, d_steps must be >= 1, got {self.steps}, {self.batch_size}, {self.d_steps}"
            )
        if self.r1_every < 1:
            raise ValueError(f"r1_every must be >= 1, got {self.r1_every}")
        if self.r1_gamma < 0:
            raise ValueError(f"r1_gamma must be >= 0, got {self.r1_gamma}")


@contextmanager
def frozen(params: list[torch.Tensor]):
    """Turn off ``requires_grad`` of ``params`` inside the block (restored after).

    The generator's step backpropagates through D but updates G only: D's weight gradients would
    be computed and then discarded (``discriminator_step`` resets them before D's next update), so
    skipping them changes no number and saves a third of D's backward in that step.
    """
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def discriminator_step(
    D: Callable[[torch.Tensor], torch.Tensor],
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    r1_gamma: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One update of D on a real and a (detached) fake batch [+ R1]; returns (loss, real, fake logits)."""
    real = real.detach().requires_grad_(r1_gamma > 0)
    real_logit, fake_logit = D(real), D(fake.detach())
    d_loss = discriminator_loss(real_logit, fake_logit)
    if r1_gamma > 0:
        (grad,) = torch.autograd.grad(real_logit.sum(), real, create_graph=True)
        d_loss = d_loss + 0.5 * r1_gamma * grad.pow(2).flatten(1).sum(1).mean()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return d_loss.detach(), real_logit.detach(), fake_logit.detach()


def train_gan(
    G: Generator,
    D: Discriminator,
    sample_real: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]],
    cfg: GANConfig,
    generator: torch.Generator | None = None,
    ema: AveragedModel | None = None,
) -> dict[str, list[float]]:
    """Alternate ``cfg.d_steps`` D updates and one G update ``cfg.steps`` times; returns the history.

    ``sample_real(n)`` returns (x (n, D), labels (n,) or None); fake samples of a conditional GAN
    use the real batch's labels, so that D sees the same label distribution on both sides.
    ``ema`` (an ``AveragedModel`` of ``G``, see ``optim.averaging.ema_of``) is updated after every generator step.
    """
    device = next(G.parameters()).device
    kw = {"foreach": cfg.foreach, "fused": cfg.fused}
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas, **kw)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas, **kw)
    steps: dict[str, list[torch.Tensor]] = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    d_params = [p for p in D.parameters() if p.requires_grad]
    ema_step = ema_updater(ema, G) if ema is not None else None  # = ema.update_parameters(G), less overhead
    d_updates = 0
    # a hand-written loop: the alternation of the discriminator's and the generator's steps is the method
    for _ in range(cfg.steps):
        for _ in range(cfg.d_steps):
            r1 = cfg.r1_gamma > 0 and d_updates % cfg.r1_every == 0
            d_updates += 1
            x, y = sample_real(cfg.batch_size)
            z = torch.randn(cfg.batch_size, G.latent_dim, generator=generator).to(device)
            with torch.no_grad():
                fake = G(z, y)
            d_loss, real_logit, fake_logit = discriminator_step(
                lambda v, y=y: D(v, y), opt_d, x, fake, cfg.r1_gamma * cfg.r1_every if r1 else 0.0
            )
        z = torch.randn(cfg.batch_size, G.latent_dim, generator=generator).to(device)
        with frozen(d_params):  # G's update needs ∇ through D's input, not D's weight gradients
            g_loss = generator_loss(D(G(z, y), y))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
        opt_g.step()
        if ema_step is not None:
            ema_step()
        # kept as tensors and read once after the loop: no host read (a device sync) per step
        steps["d_loss"].append(d_loss)
        steps["g_loss"].append(g_loss.detach())
        steps["d_real"].append(torch.sigmoid(real_logit).mean())
        steps["d_fake"].append(torch.sigmoid(fake_logit).mean())
    hist = {k: torch.stack(v).tolist() for k, v in steps.items()}
    cfg.history = hist
    return hist
