"""The encoders the self-supervised methods train: a small CNN and a patch transformer for 8×8 digits.

The transformer layers come from ``make_transformer_encoder``, the one place that picks the block:
chapter A's pre-norm ``TransformerStack`` (``deltalab.nn.transformer``, attention on SDPA). MAE and JEPA
(Dosovitskiy et al., "An Image is Worth 16x16 Words", arXiv:2010.11929) embed p×p patches linearly,
add learned position embeddings and run pre-norm transformer blocks.

Shapes: B batch, C channels, H×W image, P patches (= (H/p)·(W/p)), E embedding size.

Departures: no class token (features are the mean of the patch tokens); 2×2 patches on 8×8 images.
"""

from __future__ import annotations

import torch
from torch import nn

from deltalab.nn.transformer import BlockConfig, TransformerStack


class ConvEncoder(nn.Module):
    """Conv(3×3) → ReLU → Conv(3×3, stride 2) → ReLU → Flatten → Linear: (B, C, 8, 8) → (B, out_features)."""

    def __init__(
        self, in_channels: int = 1, width: int = 32, out_features: int = 128, image_size: int = 8
    ) -> None:
        super().__init__()
        if min(in_channels, width, out_features) < 1 or image_size % 2:
            raise ValueError(
                f"need positive sizes and an even image_size, got {in_channels}, {width}, {out_features}, {image_size}"
            )
        self.out_features = out_features
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),  # (B, 2w, H/2, W/2)
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 2) ** 2, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_transformer_encoder(
    embed_dim: int, num_layers: int, num_heads: int, mlp_ratio: float = 2.0
) -> nn.Module:
    """``num_layers`` pre-norm transformer blocks on (B, P, E) tokens, followed by a LayerNorm.

    The one place that picks the block implementation (chapter A's ``TransformerStack``).
    """
    if embed_dim % num_heads:
        raise ValueError(
            f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim}, num_heads={num_heads}"
        )
    return TransformerStack(
        BlockConfig(embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio), num_layers
    )


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) → (B, P, C·p·p), patches in row-major order."""
    b, c, h, w = x.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {(h, w)} must be divisible by patch_size={p}")
    x = x.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # (B, H/p, W/p, C, p, p)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(patches: torch.Tensor, patch_size: int, channels: int, image_size: int) -> torch.Tensor:
    """(B, P, C·p·p) → (B, C, H, W), the inverse of ``patchify``."""
    b = patches.shape[0]
    p, g = patch_size, image_size // patch_size
    x = patches.view(b, g, g, channels, p, p).permute(0, 3, 1, 4, 2, 5)  # (B, C, H/p, p, W/p, p)
    return x.reshape(b, channels, image_size, image_size)


class PatchTransformer(nn.Module):
    """Patch embedding + position embedding + transformer blocks.

    ``forward(x, keep=None)``: x (B, C, H, W); keep (B, K) indices of the patches to encode (all if
    None) → tokens (B, K, E). ``features(x)`` = mean over all patch tokens, (B, E), what probes read.
    """

    def __init__(
        self,
        image_size: int = 8,
        patch_size: int = 2,
        in_channels: int = 1,
        embed_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} must be divisible by patch_size={patch_size}")
        self.patch_size, self.in_channels, self.image_size = patch_size, in_channels, image_size
        self.num_patches = (image_size // patch_size) ** 2
        self.out_features = embed_dim
        self.embed = nn.Linear(in_channels * patch_size**2, embed_dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, self.num_patches, embed_dim))
        self.blocks = make_transformer_encoder(embed_dim, num_layers, num_heads)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.embed(patchify(x, self.patch_size)) + self.pos  # (B, P, E)
        if keep is not None:
            tokens = torch.gather(tokens, 1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))  # (B, K, E)
        return self.blocks(tokens)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).mean(dim=1)
