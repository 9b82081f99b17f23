"""BYOL: an online network and a predictor chase a slow EMA copy of themselves — no negatives.

Grill et al., "Bootstrap Your Own Latent", arXiv:2006.07733. Per step, for two views v, v':

    z_θ = g_θ(f_θ(v)),  p_θ = q_θ(z_θ)               online: encoder, projector, predictor
    z'_ξ = g_ξ(f_ξ(v'))                                target: EMA copy, no gradient
    L = 2 − 2·cos(p_θ, z'_ξ)  + the same with the views swapped     (losses.symmetric_byol_loss)
    θ ← Adam(θ, ∇L);   ξ ← τ·ξ + (1−τ)·θ                            (ema.EMA, cosine τ schedule)

What keeps it from collapsing is the predictor plus the slow target (and BatchNorm in the heads);
``embedding_std`` (eval/probes.py) measures whether it did.

Departures:
1. Adam instead of LARS; small heads; 8×8 digit augmentations.
2. τ ramps 0.95 → 0.99 instead of 0.996 → 1: with a few hundred steps instead of ~10⁵, a target
   that averages over ~100 steps would barely move (measured: probe +2.0 points with 0.99 → 1,
   +3.0 with 0.95 → 0.99, 200 steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.ssl.augment import Augment
from deltalab.models.ssl.ema import EMA, make_target
from deltalab.models.ssl.heads import MLPHead
from deltalab.models.ssl.losses import symmetric_byol_loss
from deltalab.train.steps import fit_steps


@dataclass
class BYOLConfig:
    """BYOL training knobs."""

    steps: int = 300
    """optimizer steps"""
    batch_size: int = 256
    """images per step"""
    lr: float = 2e-3
    """Adam learning rate"""
    weight_decay: float = 1e-5
    """AdamW weight decay"""
    momentum: float = 0.95
    """τ_base, the EMA momentum at step 0 (lower than the paper's 0.99-0.996: 200 steps, not 10⁵)"""
    final_momentum: float = 0.99
    """τ at the last step (BYOL's cosine schedule)"""
    proj_dim: int = 64
    """size of the projection z"""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(f"need steps >= 1 and batch_size >= 2, got {self.steps}, {self.batch_size}")


class BYOL(nn.Module):
    """Online (encoder, projector, predictor) and target (EMA encoder, projector) networks."""

    def __init__(self, encoder: nn.Module, out_features: int, proj_dim: int = 64) -> None:
        super().__init__()
        self.online = nn.Sequential(encoder, MLPHead(out_features, out_features, proj_dim))
        self.predictor = MLPHead(proj_dim, out_features, proj_dim)
        self.target = make_target(self.online)

    @property
    def encoder(self) -> nn.Module:
        return self.online[0]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.online(torch.cat([x1, x2]))  # (2N, D)
        p1, p2 = self.predictor(z).chunk(2)
        with torch.no_grad():
            t1, t2 = self.target(torch.cat([x1, x2])).chunk(2)
        return symmetric_byol_loss(p1, p2, t1, t2)


def train_byol(
    encoder: nn.Module,
    x: torch.Tensor,
    cfg: BYOLConfig,
    augment: Augment,
    seed: int = 0,
    on_step: Callable[[int, BYOL], None] | None = None,
) -> tuple[BYOL, list[float]]:
    """Train ``encoder`` (with ``out_features``) on unlabeled images (N, C, H, W); (model, losses)."""
    model = BYOL(encoder, encoder.out_features, cfg.proj_dim).to(x.device)
    params = [*model.online.parameters(), *model.predictor.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMA(model.online, model.target, cfg.momentum, cfg.final_momentum, cfg.steps)
    g = torch.Generator().manual_seed(seed)

    def loss_fn() -> torch.Tensor:
        model.train()  # on_step may have put it in eval mode
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g).to(x.device)
        return model(augment(x[idx], g), augment(x[idx], g))

    def after_step(step: int, loss: torch.Tensor) -> None:
        ema.update()
        if on_step is not None:
            on_step(step - 1, model)

    losses = fit_steps(loss_fn, opt, cfg.steps, after_step=after_step)
    model.eval()
    return model, losses
