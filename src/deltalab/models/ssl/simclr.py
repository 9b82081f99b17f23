"""SimCLR: contrastive learning of visual representations from two augmented views.

Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv:2002.05709. For a batch x of N images, per step:

    x̃₁, x̃₂ = t₁(x), t₂(x)              two random augmentations            (N, C, H, W) each
    h_v = f(x̃_v),  z_v = g(h_v)          encoder, projection head            (N, F), (N, D)
    L = NT-Xent(z₁, z₂; τ)               2N − 2 negatives per anchor (losses.nt_xent)

and the encoder output h (not z) is what downstream probes read.

Departures: Adam instead of LARS (small batch, small model); 8×8 digit augmentations (augment.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.ssl.augment import Augment
from deltalab.models.ssl.heads import MLPHead
from deltalab.models.ssl.losses import nt_xent
from deltalab.train.steps import fit_steps


@dataclass
class SimCLRConfig:
    """SimCLR training knobs."""

    steps: int = 300
    """optimizer steps"""
    batch_size: int = 256
    """images per step (2·batch_size views)"""
    lr: float = 2e-3
    """Adam learning rate"""
    weight_decay: float = 1e-5
    """AdamW weight decay"""
    temperature: float = 0.2
    """τ of NT-Xent"""
    proj_dim: int = 64
    """size of the projection z"""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 2:
            raise ValueError(f"need steps >= 0 and batch_size >= 2, got {self.steps}, {self.batch_size}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


class SimCLR(nn.Module):
    """Encoder f plus projection head g; ``forward(x1, x2)`` returns the NT-Xent loss of two views."""

    def __init__(
        self, encoder: nn.Module, out_features: int, proj_dim: int = 64, temperature: float = 0.2
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = MLPHead(out_features, out_features, proj_dim)
        self.temperature = temperature

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x1, x2])))  # (2N, D)
        z1, z2 = z.chunk(2)
        return nt_xent(z1, z2, self.temperature)


def train_simclr(
    encoder: nn.Module,
    x: torch.Tensor,
    cfg: SimCLRConfig,
    augment: Augment,
    seed: int = 0,
    on_step: object = None,
) -> list[float]:
    """Train ``encoder`` (with ``out_features``) on unlabeled images x (N, C, H, W); returns the losses.

    on_step: optional callable ``(step, model) -> None`` run every step (e.g. a probe every k steps).
    """
    model = SimCLR(encoder, encoder.out_features, cfg.proj_dim, cfg.temperature).to(x.device)
    # foreach: the multi-tensor kernel, bit-identical updates, less per-step overhead
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    g = torch.Generator().manual_seed(seed)
    model.train()

    def loss_fn() -> torch.Tensor:
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g).to(x.device)
        return model(augment(x[idx], g), augment(x[idx], g))

    def after_step(step: int, loss: torch.Tensor) -> None:
        if callable(on_step):
            on_step(step - 1, model)

    losses = fit_steps(loss_fn, opt, cfg.steps, after_step=after_step)
    model.eval()
    return losses
