"""Vision Transformer: patch embedding, class token, learned positions, transformer encoder.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
arXiv:2010.11929.

Legend: B batch, C channels, H×W image, P patch size, N = (H/P)(W/P) patches, E embed dim, K classes.

    z₀ = [x_cls; x_p¹E; …; x_pᴺE] + E_pos          (B, 1+N, E)
    z_L = Encoder(z₀);  y = Head(LN(z_L⁰))            (B, K)

Pieces are public for the self-supervised chapter (MAE, JEPA, CLIP): :class:`PatchEmbed`,
:meth:`ViT.tokens` (patch tokens + positions, before the class token, so that a masker can drop
some) and :meth:`ViT.encode` (all output tokens).

Departures:
1. Patch embedding is a strided convolution (the usual implementation of the paper's linear map
   of flattened patches; they are the same map).
2. The head is one linear layer on the class token (the paper pre-trains with an MLP head).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.registry import MODELS
from deltalab.nn.transformer import BlockConfig, TransformerStack


class PatchEmbed(nn.Module):
    """(B, C, H, W) → (B, N, E): non-overlapping P×P patches, each mapped linearly to E."""

    def __init__(
        self, image_size: tuple[int, int], patch_size: int, in_channels: int, embed_dim: int
    ) -> None:
        super().__init__()
        h, w = image_size
        if patch_size < 1 or h % patch_size or w % patch_size:
            raise ValueError(f"patch_size must divide the image size {image_size}, got {patch_size}")
        self.image_size = (h, w)
        self.in_channels = in_channels
        self.num_patches = (h // patch_size) * (w // patch_size)
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, *self.image_size):
            raise ValueError(
                f"expected images (B, {self.in_channels}, {self.image_size[0]}, {self.image_size[1]}), "
                f"got shape {tuple(x.shape)}"
            )
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, E, H/P, W/P) → (B, N, E)


@dataclass
class ViTConfig:
    """A small Vision Transformer."""

    image_size: tuple[int, int] = (8, 8)
    """H, W"""
    in_channels: int = 1
    """C"""
    patch_size: int = 2
    """P (must divide H and W)"""
    num_classes: int = 10
    """K (0: no head, encode only)"""
    embed_dim: int = 64
    """E"""
    num_heads: int = 4
    """attention heads"""
    num_layers: int = 4
    """encoder blocks"""
    mlp_ratio: float = 2.0
    """MLP width / E"""
    dropout: float = 0.0
    """dropout in the blocks"""


class ViT(nn.Module):
    """Images (B, C, H, W) → logits (B, K)."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch = PatchEmbed(cfg.image_size, cfg.patch_size, cfg.in_channels, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos = nn.Parameter(torch.randn(1, self.patch.num_patches + 1, cfg.embed_dim) * 0.02)
        self.encoder = TransformerStack(
            BlockConfig(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, cfg.dropout), cfg.num_layers
        )
        self.head: nn.Module = nn.Linear(cfg.embed_dim, cfg.num_classes) if cfg.num_classes else nn.Identity()

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with their positions, (B, N, E) (no class token yet)."""
        return self.patch(x) + self.pos[:, 1:]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """All encoder outputs (B, 1+N, E); index 0 is the class token."""
        z = self.tokens(x)
        cls = (self.cls_token + self.pos[:, :1]).expand(z.shape[0], -1, -1)  # (B, 1, E)
        return self.encoder(torch.cat([cls, z], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x)[:, 0])  # (B, K)


@MODELS.register
def vit(
    in_shape: tuple[int, ...],
    num_classes: int,
    patch_size: int = 2,
    embed_dim: int = 64,
    num_heads: int = 4,
    num_layers: int = 4,
) -> nn.Module:
    """ViT for (C, H, W) images; flat square inputs (e.g. ``digits``' 64 pixels) are read as (1, s, s)."""
    flat = len(in_shape) == 1 and math.isqrt(in_shape[0]) ** 2 == in_shape[0]
    if flat:
        side = math.isqrt(in_shape[0])
        in_shape = (1, side, side)
    if len(in_shape) != 3:
        raise ValueError(f"vit needs image inputs (C, H, W) or a flat square image, got in_shape {in_shape}")
    c, h, w = in_shape
    net = ViT(ViTConfig((h, w), c, patch_size, num_classes, embed_dim, num_heads, num_layers))
    return nn.Sequential(nn.Unflatten(1, in_shape), net) if flat else net
