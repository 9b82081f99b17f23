"""An exponential moving average of a model's weights, to evaluate or sample from after training.

    θ_ema ← decay · θ_ema + (1 − decay) · θ      after every optimizer step

Generative models sample from it: DDPM (Ho et al., arXiv:2006.11239, §4), ProGAN and StyleGAN;
for GANs it damps the oscillation of the adversarial game around its equilibrium (Yazıcı et al.,
"The Unusual Effectiveness of Averaging in GAN Training", arXiv:1806.04498). This is torch's
``AveragedModel`` with its EMA rule; buffers (BatchNorm statistics) are averaged too. (The BYOL /
JEPA target network, whose momentum follows a schedule and whose buffers are copied, is
``models.ssl.ema``.)

Departures: none.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def ema_of(model: nn.Module, decay: float) -> AveragedModel:
    """An ``AveragedModel`` of ``model``; call ``update_parameters(model)`` after each step and use
    ``.module`` for the average (its first update copies the weights)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
