"""JEPA: predict the latents of masked blocks from a context, against an EMA target encoder.

Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture"
(I-JEPA), arXiv:2301.08243. Per image on the grid of P patches:

    targets T₁..T_K: K blocks of h×w patches (same size for the whole batch)
    context C: one large block, minus ∪T_k (so the context never sees a target)
    s_y = IN(LN(f_ξ(x)))[T_k]             target encoder (EMA of θ), all patches, no gradient  (B, T, E)
    s_x = f_θ(x_C)                        context encoder on the context only                 (B, C, E)
    ŝ_y = g_φ([s_x ; m + pos_{T_k}])      narrow predictor, one target block at a time        (B·K, T, E)
    L = mean ‖ŝ_y − s_y‖²;  θ, φ ← AdamW;  ξ ← τ_k·ξ + (1−τ_k)·θ,  τ_k linear from τ₀ to τ₁

LN is a LayerNorm without parameters over the feature dimension, as in the reference code; IN (optional,
``target_instance_norm``) then standardizes each feature over the P patches of each image, the
instance normalization data2vec applies to its teacher's outputs (Baevski et al., arXiv:2202.03555);
it is the identity when off. The loss
lives in latent space: no pixels are reconstructed. Collapse (a constant s_y) would make L zero;
the EMA target, the predictor and the masking are what prevent it, and ``embedding_std`` checks it.

Shapes: B batch, P patches on a G×G grid, K target blocks, T = h·w patches per target block,
C context patches, E embedding size, E_p predictor width.

Departures:
1. Fixed-size sets so that a batch is one tensor: as in the reference collator, one target size and
   one context-block size per batch; the context is then cut to the smallest count in the batch,
   by a random subset (the reference keeps the first indices). Images whose context would fall
   below ``min_context`` patches get their blocks redrawn.
2. A tiny grid (4×4 or 8×8 patches), so block sizes are rounded to whole patches.
3. Mean squared error, not smooth L1: with layer-normed targets the two differ little.
4. Weight decay constant, and off for biases, norms and position embeddings (the reference also
   exempts biases and norms, and raises the decay 0.04 → 0.4).
5. (optional) instance-normalized targets, from data2vec rather than I-JEPA: a constant direction
   shared by every token and image is then no longer a free, perfectly predictable part of the
   target (see the experiment jepa).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.models.ssl.ema import EMA, make_target
from deltalab.models.ssl.encoders import PatchTransformer, make_transformer_encoder
from deltalab.train.steps import fit_steps


@dataclass
class JEPAConfig:
    """JEPA training knobs (defaults: I-JEPA's masking and EMA, scaled to a small grid)."""

    steps: int = 300
    """optimizer steps"""
    batch_size: int = 256
    """images per step"""
    lr: float = 2e-3
    """AdamW learning rate (constant after ``warmup`` steps of linear warm-up)"""
    warmup: int = 0
    """linear learning-rate warm-up steps"""
    weight_decay: float = 0.05
    """AdamW weight decay on weight matrices (biases, norms and position embeddings get none)"""
    num_targets: int = 4
    """K target blocks per image"""
    target_scale: tuple[float, float] = (0.15, 0.2)
    """range of a target block's area, as a fraction of the image"""
    target_aspect: tuple[float, float] = (0.75, 1.5)
    """range of a target block's aspect ratio h/w"""
    context_scale: tuple[float, float] = (0.85, 1.0)
    """range of the context block's area (square), before the targets are removed"""
    min_context: int = 2
    """fewest context patches an image may keep"""
    momentum: float = 0.996
    """EMA momentum τ₀ at step 0"""
    final_momentum: float = 1.0
    """EMA momentum τ₁ at the last step (linear schedule, as in the reference code)"""
    target_norm: bool = True
    """layer-normalize the target tokens (no affine) before the loss"""
    target_instance_norm: bool = False
    """then standardize each target feature over the patches of its image (data2vec's instance norm)"""
    predictor_dim: int = 32
    """width of the narrow predictor"""
    predictor_num_layers: int = 1
    """transformer blocks in the predictor"""
    learn_pos: bool = True
    """train the position embeddings (I-JEPA keeps fixed sin-cos ones)"""

    def __post_init__(self) -> None:
        if self.num_targets < 1:
            raise ValueError(f"need num_targets >= 1, got {self.num_targets}")
        for name in ("target_scale", "target_aspect", "context_scale"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must satisfy 0 < lo <= hi, got {(lo, hi)}")
        if self.context_scale[1] > 1 or self.target_scale[1] > 1:
            raise ValueError("block scales are fractions of the image: at most 1")
        if not 0 <= self.momentum <= self.final_momentum <= 1:
            raise ValueError(
                f"need 0 <= momentum <= final_momentum <= 1, got {self.momentum}, {self.final_momentum}"
            )


def block_size(scale: float, aspect: float, grid: int) -> tuple[int, int]:
    """(h, w) in patches of a block covering ``scale`` of a grid×grid image with h/w ≈ ``aspect``."""
    area = scale * grid * grid
    h = max(1, min(grid, round(math.sqrt(area * aspect))))
    w = max(1, min(grid, round(math.sqrt(area / aspect))))
    return h, w


def _block_mask(batch: int, grid: int, h: int, w: int, generator: torch.Generator | None) -> torch.Tensor:
    """Indices (B, h·w) of one random h×w block per image, row-major."""
    r0 = torch.randint(0, grid - h + 1, (batch, 1, 1), generator=generator)
    c0 = torch.randint(0, grid - w + 1, (batch, 1, 1), generator=generator)
    rows = r0 + torch.arange(h).view(1, h, 1)  # (B, h, 1)
    cols = c0 + torch.arange(w).view(1, 1, w)  # (B, 1, w)
    return (rows * grid + cols).flatten(1)  # (B, h·w)


def sample_multiblock(
    batch: int,
    grid: int,
    cfg: JEPAConfig,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """I-JEPA's multi-block masks: (targets (B, K, T), context (B, C)) patch indices, context ∩ targets = ∅."""
    u = torch.rand(3, generator=generator).tolist()
    lo, hi = cfg.target_scale
    alo, ahi = cfg.target_aspect
    h, w = block_size(lo + (hi - lo) * u[0], alo + (ahi - alo) * u[1], grid)
    clo, chi = cfg.context_scale
    side = max(1, min(grid, round(math.sqrt(clo + (chi - clo) * u[2]) * grid)))
    p, k = grid * grid, cfg.num_targets
    targets = torch.empty(batch, k, h * w, dtype=torch.long)
    context_mask = torch.empty(batch, p, dtype=torch.bool)
    todo = torch.arange(batch)
    for _ in range(100):  # redraw the images whose context came out too small
        n = len(todo)
        t = torch.stack([_block_mask(n, grid, h, w, generator) for _ in range(k)], 1)  # (n, K, T)
        in_target = torch.zeros(n, p, dtype=torch.bool).scatter_(1, t.flatten(1), True)
        in_context = torch.zeros(n, p, dtype=torch.bool).scatter_(
            1, _block_mask(n, grid, side, side, generator), True
        )
        keep = in_context & ~in_target  # (n, P)
        ok = keep.sum(1) >= cfg.min_context
        targets[todo[ok]], context_mask[todo[ok]] = t[ok], keep[ok]
        todo = todo[~ok]
        if len(todo) == 0:
            break
    else:
        raise ValueError(
            f"could not keep {cfg.min_context} context patches with {k} targets of {h}x{w} on {grid}x{grid}"
        )
    c = int(context_mask.sum(1).min())
    # Random scores, non-context pushed last: the first c are a random subset of each image's context.
    score = torch.rand(batch, p, generator=generator) + (~context_mask).float() * 2
    context = score.argsort(dim=1)[:, :c].sort(dim=1).values  # (B, C)
    return targets, context


class JEPA(nn.Module):
    """Context encoder, EMA target encoder, predictor; ``forward(x, targets, context)`` → loss."""

    def __init__(
        self,
        encoder: PatchTransformer,
        predictor_dim: int = 32,
        predictor_num_layers: int = 1,
        target_norm: bool = True,
        target_instance_norm: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.target = make_target(encoder)
        self.target_norm, self.target_instance_norm = target_norm, target_instance_norm
        e, p = encoder.out_features, encoder.num_patches
        self.to_predictor = nn.Linear(e, predictor_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_dim))
        self.predictor_pos = nn.Parameter(0.02 * torch.randn(1, p, predictor_dim))
        self.predictor = make_transformer_encoder(predictor_dim, num_layers=predictor_num_layers, num_heads=2)
        self.from_predictor = nn.Linear(predictor_dim, e)

    def target_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """s_y for every patch: (B, P, E), layer-normalized over E if ``target_norm``, then each feature
        standardized over the P patches of its image if ``target_instance_norm``."""
        s = self.target(x)
        if self.target_norm:
            s = F.layer_norm(s, s.shape[-1:])
        if self.target_instance_norm:
            s = F.instance_norm(s.transpose(1, 2)).transpose(1, 2)  # per image and feature, over P
        return s

    def forward(self, x: torch.Tensor, targets: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, k, t = targets.shape
        with torch.no_grad():
            s_all = self.target_tokens(x)  # (B, P, E)
            s_y = torch.gather(s_all, 1, targets.flatten(1).unsqueeze(-1).expand(-1, -1, s_all.shape[-1]))
        s_x = self.to_predictor(self.encoder(x, context))  # (B, C, E_p)
        pos = self.predictor_pos.expand(b, -1, -1)
        pos_c = torch.gather(pos, 1, context.unsqueeze(-1).expand(-1, -1, pos.shape[-1]))  # (B, C, E_p)
        pos_t = torch.gather(
            pos, 1, targets.flatten(1).unsqueeze(-1).expand(-1, -1, pos.shape[-1])
        )  # (B, K·T, E_p)
        # Each target block is predicted on its own from the context (the blocks do not see each other).
        ctx = (s_x + pos_c).repeat_interleave(k, dim=0)  # (B·K, C, E_p)
        queries = (self.mask_token + pos_t).reshape(b * k, t, -1)  # (B·K, T, E_p)
        pred = self.from_predictor(self.predictor(torch.cat([ctx, queries], dim=1))[:, -t:])  # (B·K, T, E)
        return (pred.reshape(b, k * t, -1) - s_y).pow(2).mean()


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on weight matrices only (biases, norm gains, position embeddings exempt)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "pos" in name or "mask_token" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_jepa(
    encoder: PatchTransformer,
    x: torch.Tensor,
    cfg: JEPAConfig,
    seed: int = 0,
    on_step: Callable[[int, JEPA], None] | None = None,
) -> tuple[JEPA, list[float]]:
    """Pre-train ``encoder`` as JEPA's context encoder on unlabeled images (N, C, H, W)."""
    model = JEPA(
        encoder, cfg.predictor_dim, cfg.predictor_num_layers, cfg.target_norm, cfg.target_instance_norm
    ).to(x.device)
    if not cfg.learn_pos:
        model.encoder.pos.requires_grad_(False)
        model.predictor_pos.requires_grad_(False)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    ema = EMA(model.encoder, model.target, cfg.momentum, cfg.final_momentum, cfg.steps, schedule="linear")
    g = torch.Generator().manual_seed(seed)
    grid = int(round(encoder.num_patches**0.5))
    warmup = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / cfg.warmup) if cfg.warmup else 1.0
    )  # the rate of step k (0-based): lr·min(1, (k + 1)/warmup)

    def loss_fn() -> torch.Tensor:
        model.train()  # on_step may have put it in eval mode
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g).to(x.device)
        targets, context = sample_multiblock(cfg.batch_size, grid, cfg, g)
        return model(x[idx], targets.to(x.device), context.to(x.device))

    def after_step(step: int, loss: torch.Tensor) -> None:
        ema.update()
        if on_step is not None:
            on_step(step - 1, model)

    losses = fit_steps(loss_fn, opt, cfg.steps, scheduler=warmup, after_step=after_step)
    model.eval()
    return model, losses
