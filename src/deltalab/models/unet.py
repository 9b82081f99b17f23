"""A small U-Net for 8×8 images with sinusoidal time embeddings (the DDPM denoiser).

Ronneberger et al., "U-Net" (arXiv:1505.04597); the time embedding and residual blocks follow
Ho et al., "Denoising Diffusion Probabilistic Models" (arXiv:2006.11239), whose embedding is the
transformer's sinusoid: emb(t)_i = sin(t / 10000^(2i/d)) ‖ cos(t / 10000^(2i/d)).

An optional conditioning vector ``cond`` (B, cond_dim) is projected and *added* to the time
embedding; ``cond=None`` uses a learned null embedding, the path classifier-free guidance needs.

Departures: (1) two resolutions (8×8 → 4×4 for the default ``channel_mults=(1, 2)``), one residual
block per level, no attention: the images are 8×8; (2) GroupNorm with at most 8 groups.

Shapes: B batch, C channels, H = W = 8 (any size divisible by 2^(levels-1)), E embedding.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) timesteps → (B, dim) sinusoidal embedding."""
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, plus the embedding as a per-channel shift, twice; residual."""

    def __init__(self, in_channels: int, out_channels: int, time_embed_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb = nn.Linear(time_embed_dim, out_channels)
        self.norm2 = nn.GroupNorm(min(8, out_channels), out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))  # (B, C_out, H, W)
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """ε-predicting U-Net: (x_t (B, C, H, W), t (B,), cond (B, cond_dim) | None) → (B, C, H, W)."""

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        time_embed_dim: int = 64,
        cond_dim: int | None = None,
    ) -> None:
        super().__init__()
        if base_channels <= 0 or not channel_mults:
            raise ValueError(f"need base_channels > 0 and >= 1 level, got {base_channels}, {channel_mults}")
        self.time_embed_dim, self.cond_dim, self.levels = time_embed_dim, cond_dim, len(channel_mults)
        self.time_mlp = nn.Sequential(
            nn.Linear(time_embed_dim, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, time_embed_dim)
        )
        if cond_dim is not None:
            self.cond_proj = nn.Linear(cond_dim, time_embed_dim)
            self.null_cond = nn.Parameter(torch.zeros(time_embed_dim))
        chans = [base_channels * m for m in channel_mults]
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        c_prev = chans[0]
        for i, c in enumerate(chans):
            self.down.append(ResBlock(c_prev, c, time_embed_dim))
            self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(chans) - 1 else nn.Identity())
            c_prev = c
        self.mid = ResBlock(c_prev, c_prev, time_embed_dim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(chans))):
            self.up.append(ResBlock(c_prev + chans[i], chans[i], time_embed_dim))
            self.upsample.append(nn.Upsample(scale_factor=2, mode="nearest") if i > 0 else nn.Identity())
            c_prev = chans[i]
        self.out = nn.Sequential(
            nn.GroupNorm(min(8, c_prev), c_prev), nn.SiLU(), nn.Conv2d(c_prev, in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def embed(self, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Time embedding plus (projected cond, or the null embedding when cond is None): (B, E)."""
        emb = self.time_mlp(sinusoidal_embedding(t, self.time_embed_dim))
        if self.cond_dim is not None:
            emb = emb + (self.null_cond.expand_as(emb) if cond is None else self.cond_proj(cond))
        elif cond is not None:
            raise ValueError("this UNet was built with cond_dim=None; pass cond_dim to condition it")
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] % 2 ** (self.levels - 1) or x.shape[-2] % 2 ** (self.levels - 1):
            raise ValueError(
                f"x must be (B, C, H, W) with H, W divisible by {2 ** (self.levels - 1)}, got {tuple(x.shape)}"
            )
        emb = self.embed(t, cond)
        h = self.stem(x)  # (B, c0, H, W)
        skips = []
        for block, pool in zip(self.down, self.pool, strict=True):
            h = block(h, emb)
            skips.append(h)
            h = pool(h)  # (B, c, H/2, W/2) except at the last level
        h = self.mid(h, emb)
        for block, upsample in zip(self.up, self.upsample, strict=True):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)  # skip connection
            h = upsample(h)
        return self.out(h)
