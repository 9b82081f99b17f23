"""One-call supervised training on in-memory tensors: the Trainer with AdamW, optionally one-cycle."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from deltalab.optim import create_optimizer
from deltalab.train.trainer import TrainConfig, Trainer


def fit_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    one_cycle: bool = False,
    **cfg: Any,
) -> Trainer:
    """Train a classifier on (x, y) with the Trainer (AdamW by default) and return the Trainer.

    ``seed`` fixes the batch order; ``cfg`` is any other :class:`TrainConfig` field (e.g.
    ``weight_decay``). ``one_cycle``: the rate warms up to ``lr`` and anneals (cosine) to ~0 over
    the run — torch's OneCycleLR (Smith & Topin, arXiv:1708.07120), the usual recipe for short
    runs; without it the rate is constant. Use ``trainer.evaluate((x, y))`` for accuracy."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device, **cfg)
    opt = sched = None
    if one_cycle:
        opt = create_optimizer(config.optimizer, model.parameters(), lr=lr, weight_decay=config.weight_decay)
        total = epochs * math.ceil(len(x) / batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
    trainer = Trainer(model, config, optimizer=opt, scheduler=sched)
    trainer.fit((x, y))
    return trainer
