"""Siamese networks: one embedding net applied to both members of a pair, trained with the
contrastive loss so that same-class pairs come close and different-class pairs end ≥ m apart.

Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant Mapping" (DrLIM,
CVPR 2006); Bromley et al., "Signature Verification using a Siamese Time Delay Neural Network"
(NeurIPS 1993). Per pair (x₁, x₂, Y) with Y = 1 for a dissimilar pair:

    D = ‖G(x₁) − G(x₂)‖₂,   L = ½(1−Y)·D² + ½Y·max(0, m − D)²      (losses.contrastive_loss)

Shapes: B pairs, F input features, K embedding size (2 for a plot).

Departures: pairs are drawn half similar / half dissimilar (the paper takes all pairs of a
neighbourhood graph); labels stand in for the neighbourhood relation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deltalab.models.mlp import MLP
from deltalab.models.ssl.losses import contrastive_loss
from deltalab.train.steps import fit_steps


@dataclass
class SiameseConfig:
    """Siamese training knobs."""

    steps: int = 1000
    """optimizer steps"""
    batch_size: int = 256
    """pairs per step"""
    lr: float = 3e-3
    """AdamW learning rate"""
    margin: float = 1.0
    """m, the distance beyond which dissimilar pairs stop being pushed"""
    embed_dim: int = 2
    """K, the embedding size"""
    hidden_dims: tuple[int, ...] = (128, 128)
    """hidden widths of the embedding MLP"""

    def __post_init__(self) -> None:
        if self.margin <= 0 or self.embed_dim < 1 or self.steps < 0:
            raise ValueError(
                f"need margin > 0, embed_dim >= 1, steps >= 0, got {self.margin}, {self.embed_dim}, {self.steps}"
            )


def sample_pairs(
    y: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(i, j, Y): n index pairs, the first half same-class (Y=0), the second half from a uniformly
    random other class (Y=1). A same-class pair may repeat an index (D = 0, loss 0)."""
    y = y.cpu()
    classes = torch.unique(y)
    by_class = [torch.nonzero(y == c).flatten() for c in classes]
    i = torch.randint(0, len(y), (n,), generator=generator)
    same = torch.arange(n) < n // 2
    ci = torch.searchsorted(classes, y[i])
    shift = torch.randint(1, len(classes), (n,), generator=generator)
    cj = torch.where(same, ci, (ci + shift) % len(classes))  # a uniformly random other class
    j = torch.empty(n, dtype=torch.long)
    for c, idx in enumerate(by_class):
        sel = cj == c
        j[sel] = idx[torch.randint(0, len(idx), (int(sel.sum()),), generator=generator)]
    return i, j, (~same).long()


def train_siamese(
    x: torch.Tensor, y: torch.Tensor, cfg: SiameseConfig, seed: int = 0
) -> tuple[nn.Module, list[float]]:
    """Train the embedding net G on labelled pairs from (x (N, F), y (N,)); returns (G, losses)."""
    net = MLP(x.shape[1], cfg.hidden_dims, cfg.embed_dim).to(x.device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(seed)

    def loss_fn() -> torch.Tensor:
        i, j, target = (t.to(x.device) for t in sample_pairs(y, cfg.batch_size, g))
        e = net(torch.cat([x[i], x[j]]))  # (2B, K): one net, both members of the pairs
        e1, e2 = e.chunk(2)
        return contrastive_loss((e1 - e2).pow(2).sum(1).add(1e-12).sqrt(), target, cfg.margin)

    losses = fit_steps(loss_fn, opt, cfg.steps)
    net.eval()
    return net, losses
