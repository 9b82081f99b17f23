"""JEPA: predict the latents of masked blocks from a context, against an EMA target encoder.

Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture"
(I-JEPA), arXiv:2301.08243. Per image on the grid of P patches:

    targets T₁..T_K: random blocks of patches;  context C: patches outside ∪T_k
    s_y = f_ξ(x)[T]                       target encoder (EMA of θ), all patches, no gradient  (B, |T|, E)
    s_x = f_θ(x_C)                        context encoder on the context only                 (B, |C|, E)
    ŝ_y = g_φ([s_x ; m + pos_T])[T]       narrow predictor with mask tokens at the targets
    L = mean ‖ŝ_y − s_y‖²;  θ, φ ← AdamW;  ξ ← τ·ξ + (1−τ)·θ

The loss lives in latent space: no pixels are reconstructed. Collapse (a constant s_y) would make
L zero; the EMA target and the predictor are what prevents it, and ``embedding_std`` checks it.

Departures:
1. Fixed-size sets so that a batch is one tensor: K blocks of b×b patches (they may overlap; a
   duplicated target position is predicted twice), and the context is a random subset of fixed
   size of the complement of the union.
2. τ ramps 0.95 → 0.99 (not 0.996 → 1): a few hundred steps instead of ~10⁵.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.ssl.ema import EMA, make_target
from deltalab.models.ssl.encoders import PatchTransformer, make_transformer_encoder


@dataclass
class JEPAConfig:
    """JEPA training knobs."""

    steps: int = 300
    """optimizer steps"""
    batch_size: int = 256
    """images per step"""
    lr: float = 2e-3
    """AdamW learning rate"""
    weight_decay: float = 0.05
    """AdamW weight decay"""
    num_blocks: int = 2
    """K target blocks per image"""
    block: int = 2
    """side b of a square target block, in patches"""
    momentum: float = 0.95
    """EMA momentum at step 0"""
    final_momentum: float = 0.99
    """EMA momentum at the last step (cosine schedule)"""
    predictor_dim: int = 32
    """width of the narrow predictor"""

    def __post_init__(self) -> None:
        if self.num_blocks < 1 or self.block < 1:
            raise ValueError(f"need num_blocks >= 1 and block >= 1, got {self.num_blocks}, {self.block}")


def sample_blocks(
    batch: int, grid: int, num_blocks: int, block: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets (B, K·b²), context (B, P − K·b²)) patch indices on a grid×grid patch grid."""
    if block > grid or num_blocks * block * block >= grid * grid:
        raise ValueError(f"{num_blocks} blocks of {block}x{block} leave no context on a {grid}x{grid} grid")
    r0 = torch.randint(0, grid - block + 1, (batch, num_blocks, 1, 1), generator=generator)
    c0 = torch.randint(0, grid - block + 1, (batch, num_blocks, 1, 1), generator=generator)
    d = torch.arange(block)
    rows, cols = r0 + d.view(1, 1, block, 1), c0 + d.view(1, 1, 1, block)  # (B, K, b, b)
    targets = (rows * grid + cols).flatten(1)  # (B, K·b²)
    in_target = torch.zeros(batch, grid * grid, dtype=torch.bool).scatter_(1, targets, True)
    # Random scores, targets pushed last: the first P − K·b² are a random subset of the complement.
    score = torch.rand(batch, grid * grid, generator=generator) + in_target.float() * 2
    context = score.argsort(dim=1)[:, : grid * grid - targets.shape[1]].sort(dim=1).values
    return targets, context


class JEPA(nn.Module):
    """Context encoder, EMA target encoder, predictor; ``forward(x, targets, context)`` → loss."""

    def __init__(self, encoder: PatchTransformer, predictor_dim: int = 32) -> None:
        super().__init__()
        self.encoder = encoder
        self.target = make_target(encoder)
        e, p = encoder.out_features, encoder.num_patches
        self.to_predictor = nn.Linear(e, predictor_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_dim))
        self.predictor_pos = nn.Parameter(0.02 * torch.randn(1, p, predictor_dim))
        self.predictor = make_transformer_encoder(predictor_dim, depth=1, heads=2)
        self.from_predictor = nn.Linear(predictor_dim, e)

    def forward(self, x: torch.Tensor, targets: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, t = targets.shape
        with torch.no_grad():
            s_all = self.target(x)  # (B, P, E)
            s_y = torch.gather(s_all, 1, targets.unsqueeze(-1).expand(-1, -1, s_all.shape[-1]))  # (B, T, E)
        s_x = self.to_predictor(self.encoder(x, context))  # (B, C, E_p)
        pos = self.predictor_pos.expand(b, -1, -1)
        pos_c = torch.gather(pos, 1, context.unsqueeze(-1).expand(-1, -1, pos.shape[-1]))
        pos_t = torch.gather(pos, 1, targets.unsqueeze(-1).expand(-1, -1, pos.shape[-1]))
        u = torch.cat([s_x + pos_c, self.mask_token + pos_t], dim=1)  # (B, C + T, E_p)
        pred = self.from_predictor(self.predictor(u)[:, -t:])  # (B, T, E)
        return (pred - s_y).pow(2).mean()


def train_jepa(
    encoder: PatchTransformer,
    x: torch.Tensor,
    cfg: JEPAConfig,
    seed: int = 0,
    on_step: Callable[[int, JEPA], None] | None = None,
) -> tuple[JEPA, list[float]]:
    """Pre-train ``encoder`` as JEPA's context encoder on unlabeled images (N, C, H, W)."""
    model = JEPA(encoder, cfg.predictor_dim).to(x.device)
    params = [p for n, p in model.named_parameters() if not n.startswith("target.")]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMA(model.encoder, model.target, cfg.momentum, cfg.final_momentum, cfg.steps)
    g = torch.Generator().manual_seed(seed)
    grid = int(round(encoder.num_patches**0.5))
    losses = []
    for step in range(cfg.steps):
        model.train()
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g).to(x.device)
        targets, context = sample_blocks(cfg.batch_size, grid, cfg.num_blocks, cfg.block, g)
        loss = model(x[idx], targets.to(x.device), context.to(x.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, model)
    model.eval()
    return model, losses


def target_encoder(model: JEPA) -> PatchTransformer:
    """A copy of the EMA target encoder (I-JEPA evaluates the target encoder)."""
    return copy.deepcopy(model.target)
