"""Progressive growing of GANs from 4×4 to 8×8 with a fade-in.

Karras, Aila, Laine, Lehtinen, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation" (arXiv:1710.10196). Train G and D at 4×4 first; then add an 8×8 block to each and fade
it in with α rising linearly from 0 to 1:

    G_8(z)  = (1 − α) · upsample(toRGB_4(h_4)) + α · toRGB_8(block_8(upsample(h_4)))
    D_8(x)  = D_4-trunk((1 − α) · fromRGB_4(avgpool(x)) + α · downsample(block_8(fromRGB_8(x))))

As in the paper, the generator normalizes each pixel's feature vector to unit RMS after every
convolution (pixel norm, x / sqrt(mean_c x² + ε)) and samples come from an EMA of its weights.

Departures: (1) two resolutions only; (2) no equalized learning rate (the nets are tiny; it
measured no better here) and the minibatch-stddev layer only as an option
(``ProgressiveDiscriminator(minibatch_std=True)``, one group, the whole batch); (3) the
non-saturating loss of ``models.gan``, not WGAN-GP. As in the paper, where the width falls as the
resolution grows, the 8×8 block may be narrower than the 4×4 one (``channels_8``).

Shapes: B batch, Z latent, C channels; images (B, 1, 4, 4) at stage 4 and (B, 1, 8, 8) at stage 8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from deltalab.models.gan import LatentCode, discriminator_step, frozen, generator_loss
from deltalab.optim.averaging import ema_updater


class PixelNorm(nn.Module):
    """x (B, C, H, W) → x / sqrt(mean over C of x² + eps): each pixel's features at unit RMS."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


def fade(low: torch.Tensor, high: torch.Tensor, alpha: float) -> torch.Tensor:
    """The fade-in blend (1 − α) · low + α · high: α = 0 is the old path alone, α = 1 the new block."""
    return (1 - alpha) * low + alpha * high


class ProgressiveGenerator(nn.Module):
    """z (B, Z) → image at the current resolution (4 or 8) with fade-in ``alpha``.

    ``codes`` > 0 adds the discrete latent code of ``models.gan.LatentCode`` to z. ``channels`` is
    the width at 4×4; ``channels_8`` (default: the same) the width of the 8×8 block, where a
    convolution costs four times as much per channel pair.
    """

    def __init__(
        self, latent_dim: int = 16, channels: int = 64, codes: int = 0, channels_8: int | None = None
    ) -> None:
        super().__init__()
        self.latent_dim, self.channels = latent_dim, channels
        c8 = channels_8 or channels
        self.code = LatentCode(codes, latent_dim) if codes else None
        z_in = latent_dim * (2 if codes else 1)
        self.base = nn.Sequential(nn.Linear(z_in, channels * 16), nn.LeakyReLU(0.2))
        self.block4 = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2), PixelNorm()
        )
        self.to_rgb4 = nn.Conv2d(channels, 1, 1)
        self.block8 = nn.Sequential(nn.Conv2d(channels, c8, 3, padding=1), nn.LeakyReLU(0.2), PixelNorm())
        self.to_rgb8 = nn.Conv2d(c8, 1, 1)

    def forward(self, z: torch.Tensor, resolution: int = 8, alpha: float = 1.0) -> torch.Tensor:
        if resolution not in (4, 8) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"resolution must be 4 or 8 and alpha in [0, 1], got {resolution}, {alpha}")
        if self.code is not None:
            z = torch.cat([z, self.code(z)], dim=1)  # (B, 2Z)
        h4 = self.block4(self.base(z).view(-1, self.channels, 4, 4))  # (B, C, 4, 4)
        if resolution == 4:
            return torch.sigmoid(self.to_rgb4(h4))
        h8 = self.block8(F.interpolate(h4, scale_factor=2, mode="nearest"))  # (B, C8, 8, 8)
        img8 = torch.sigmoid(self.to_rgb8(h8))
        if alpha == 1.0:  # the old path has weight 0: skip it (same output, its gradient is 0)
            return img8
        img4 = torch.sigmoid(self.to_rgb4(h4))
        return fade(F.interpolate(img4, scale_factor=2, mode="nearest"), img8, alpha)


class MinibatchStd(nn.Module):
    """x (B, C, H, W) → (B, C + 1, H, W): appends the batch's mean feature standard deviation.

    Karras et al. §3: the standard deviation of each feature and pixel over the minibatch,
    averaged into one number and appended as a constant map, lets D see a batch's variety, so a
    generator that draws too alike a batch (a partial collapse) is told apart from the data.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the unbiased standard deviation over the batch, written out: ``x.std(0)`` reduces along
        # the strided batch axis and cost about 8× as much here (forward and backward)
        dev = x - x.mean(0)  # (B, C, H, W)
        sd = (dev.pow(2).sum(0) / (x.shape[0] - 1)).sqrt().mean()
        return torch.cat([x, sd.expand(x.shape[0], 1, x.shape[2], x.shape[3])], dim=1)  # (B, C + 1, H, W)


class ProgressiveDiscriminator(nn.Module):
    """image (B, 1, 4 or 8, 4 or 8) → logit (B,), with the mirrored fade-in.

    ``minibatch_std`` puts a ``MinibatchStd`` before the 4×4 trunk (the paper's place: before D's
    last block), which then takes C + 1 channels. ``channels_8`` (default: ``channels``) is the
    width of fromRGB_8 and the 8×8 block's input; the block maps it to ``channels`` for the trunk.
    """

    def __init__(
        self, channels: int = 64, minibatch_std: bool = False, channels_8: int | None = None
    ) -> None:
        super().__init__()
        c8 = channels_8 or channels
        self.from_rgb4 = nn.Sequential(nn.Conv2d(1, channels, 1), nn.LeakyReLU(0.2))
        self.from_rgb8 = nn.Sequential(nn.Conv2d(1, c8, 1), nn.LeakyReLU(0.2))
        self.block8 = nn.Sequential(nn.Conv2d(c8, channels, 3, padding=1), nn.LeakyReLU(0.2))
        self.trunk4 = nn.Sequential(
            *([MinibatchStd()] if minibatch_std else []),
            nn.Conv2d(channels + minibatch_std, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(channels * 16, 1),
        )

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        if x.shape[-1] == 4:
            return self.trunk4(self.from_rgb4(x)).squeeze(1)
        if x.shape[-1] != 8:
            raise ValueError(f"images must be 4×4 or 8×8, got {tuple(x.shape)}")
        h = F.avg_pool2d(self.block8(self.from_rgb8(x)), 2)  # (B, C, 4, 4)
        if alpha == 1.0:  # the old path has weight 0: skip it (same output, its gradient is 0)
            return self.trunk4(h).squeeze(1)
        skip = self.from_rgb4(F.avg_pool2d(x, 2))
        return self.trunk4(fade(skip, h, alpha)).squeeze(1)


@dataclass
class ProgressiveConfig:
    """Steps of the three phases: 4×4, fade-in (α: 0 → 1), 8×8."""

    steps_4: int = 500
    """generator updates at 4×4"""
    steps_fade: int = 500
    """updates while α rises linearly from 0 to 1"""
    steps_8: int = 500
    """updates at 8×8 with α = 1"""
    batch_size: int = 128
    """samples per step"""
    lr: float = 1e-3
    """Adam learning rate of both nets"""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas of both nets (the paper: β1 = 0, β2 = 0.99)"""
    foreach: bool | None = None
    """Adam's ``foreach`` flag (None: torch's default; True: the multi-tensor kernel, same arithmetic)"""
    fused: bool | None = None
    """Adam's ``fused`` flag (True: one fused kernel; not with ``foreach``; rounds differently)"""

    def __post_init__(self) -> None:
        if min(self.steps_4, self.steps_fade, self.steps_8) < 0 or self.batch_size < 1:
            raise ValueError(f"steps must be >= 0 and batch_size >= 1, got {self}")


def train_progressive(
    G: ProgressiveGenerator,
    D: ProgressiveDiscriminator,
    sample_real: Callable[[int], torch.Tensor],
    cfg: ProgressiveConfig,
    generator: torch.Generator | None = None,
    ema: AveragedModel | None = None,
    on_phase_end: Callable[[str], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Grow 4×4 → 8×8; ``sample_real(n)`` gives (n, 1, 8, 8) images, pooled to 4×4 in phase one.

    ``ema`` (``optim.averaging.ema_of(G, decay)``) is updated after every generator step, as in the paper.
    ``on_phase_end(name)`` is called after the last step of each non-empty phase ("4x4", "fade",
    "8x8"), e.g. to draw samples at each stage; ``on_step(n)`` after every step (n steps done),
    e.g. to score the EMA during training. Neither may touch ``generator``.
    """
    device = next(G.parameters()).device
    kw = {"foreach": cfg.foreach, "fused": cfg.fused}
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas, **kw)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas, **kw)
    d_params = [p for p in D.parameters() if p.requires_grad]
    ema_step = ema_updater(ema, G) if ema is not None else None  # = ema.update_parameters(G), less overhead
    hist: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "alpha": [], "resolution": []}
    losses: list[torch.Tensor] = []  # (2,) per step: D's and G's loss
    total = cfg.steps_4 + cfg.steps_fade + cfg.steps_8
    ends, done = {}, 0  # the step count at which each non-empty phase ends → its name
    for name, n in (("4x4", cfg.steps_4), ("fade", cfg.steps_fade), ("8x8", cfg.steps_8)):
        done += n
        if n > 0:
            ends[done] = name
    # a hand-written loop: the G/D alternation and the growing (4×4, fade-in, 8×8) are the method
    for step in range(total):
        if step < cfg.steps_4:
            res, alpha = 4, 1.0
        else:
            res, alpha = 8, min(1.0, (step - cfg.steps_4 + 1) / max(cfg.steps_fade, 1))
        x = sample_real(cfg.batch_size)
        if res == 4:
            x = F.avg_pool2d(x, 2)  # (B, 1, 4, 4)
        elif alpha < 1.0:  # the real images fade the same way as the fakes (at α = 1: x itself)
            x = fade(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
        z = torch.randn(cfg.batch_size, G.latent_dim, generator=generator).to(device)
        with torch.no_grad():
            fake = G(z, res, alpha)
        d_loss, _, _ = discriminator_step(lambda v, a=alpha: D(v, a), opt_d, x, fake)
        z = torch.randn(cfg.batch_size, G.latent_dim, generator=generator).to(device)
        with frozen(d_params):  # G's update needs no D weight gradients (models.gan.frozen)
            g_loss = generator_loss(D(G(z, res, alpha), alpha))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
        opt_g.step()
        if ema_step is not None:
            ema_step()
        if on_phase_end is not None and step + 1 in ends:
            on_phase_end(ends[step + 1])
        if on_step is not None:
            on_step(step + 1)
        losses.append(torch.stack([d_loss, g_loss.detach()]))  # read once after the loop, not per step
        hist["alpha"].append(float(alpha))
        hist["resolution"].append(float(res))
    if losses:
        hist["d_loss"], hist["g_loss"] = (list(v) for v in zip(*torch.stack(losses).tolist(), strict=True))
    return hist
