"""Classification accuracy of a model on a labelled set: the one helper the experiments share."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` whose arg-max logit is ``y``, in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        return (model(x).argmax(-1) == y).float().mean().item()
    finally:
        model.train(was_training)
