"""Looking inside a trained classifier: activation maximization, saliency maps and the deconvnet.

- Activation maximization: Erhan et al., "Visualizing Higher-Layer Features of a Deep Network"
  (2009); with the regularizers of Yosinski et al., "Understanding Neural Networks Through Deep
  Visualization" (arXiv:1506.06579): L2 decay, Gaussian blur every few steps, random jitter.
      x ← clip(x + η·∇_x [f_c(x) − λ‖x‖²]),  then every ``blur_every`` steps x ← G_σ ∗ x
- Saliency: Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks" (arXiv:1312.6034):
  |∂f_c/∂x|, the maximum over channels.
- Deconvnet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks"
  (arXiv:1311.2901): a unit's activation is projected back to pixels through unpooling with the
  recorded max-pool switches, ReLU, and the transposed convolutions.

Shapes: B batch, C channels, H×W spatial.

Departures:
1. The deconvnet handles ``nn.Sequential`` prefixes of Conv2d (stride 1), ReLU and MaxPool2d
   layers, which is the architecture of the original paper.
2. Activation maximization ascends the class logit (not the softmax), as Simonyan et al. advise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.train.steps import fit_steps


@dataclass
class ActMaxConfig:
    """Gradient ascent on the input for one unit (class logit)."""

    steps: int = 200
    """ascent steps"""
    lr: float = 0.1
    """step size of the Adam ascent"""
    l2: float = 0.01
    """weight λ of the ‖x‖² penalty"""
    blur_every: int = 4
    """apply a Gaussian blur every this many steps (0: never)"""
    blur_sigma: float = 0.5
    """blur width in pixels"""
    jitter: int = 1
    """random roll of up to this many pixels before each step (0: none)"""
    clamp: tuple[float, float] = (0.0, 1.0)
    """pixel range"""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.l2 < 0 or self.blur_sigma <= 0 or self.jitter < 0:
            raise ValueError(
                f"need steps >= 1, lr > 0, l2 >= 0, blur_sigma > 0, jitter >= 0; got steps={self.steps}, "
                f"lr={self.lr}, l2={self.l2}, blur_sigma={self.blur_sigma}, jitter={self.jitter}"
            )


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) images, kernel radius ⌈2σ⌉, reflect padding."""
    r = max(1, int(2 * sigma + 0.999))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    xp = F.conv2d(xp, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(xp, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def activation_maximization(
    model: nn.Module,
    targets: torch.Tensor,
    init: torch.Tensor,
    config: ActMaxConfig | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Inputs that maximize logit ``targets[b]`` of ``model``, one per row of ``init`` (B, C, H, W)."""
    cfg = config or ActMaxConfig()
    if len(targets) != len(init):
        raise ValueError(f"need one target per initial image, got {len(targets)} and {len(init)}")
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = init.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.lr)

    def loss_fn() -> torch.Tensor:
        xin = x
        if cfg.jitter:
            dx, dy = torch.randint(-cfg.jitter, cfg.jitter + 1, (2,), generator=generator).tolist()
            xin = torch.roll(x, shifts=(dx, dy), dims=(-2, -1))
        logits = model(xin)  # (B, classes)
        return -(logits.gather(1, targets.view(-1, 1)).sum() - cfg.l2 * (x**2).sum())

    @torch.no_grad()
    def regularize(step: int, loss: torch.Tensor) -> None:
        if cfg.blur_every and step % cfg.blur_every == 0:
            x.copy_(gaussian_blur(x, cfg.blur_sigma))
        x.clamp_(*cfg.clamp)

    try:
        fit_steps(loss_fn, opt, cfg.steps, after_step=regularize)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    return x.detach()


def saliency_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """|∂f_c/∂x| max over channels: (B, C, H, W) → (B, H, W); c is the predicted class unless given."""
    was_training = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    c = logits.argmax(-1) if target is None else target
    (grad,) = torch.autograd.grad(logits.gather(1, c.view(-1, 1)).sum(), x)
    model.train(was_training)
    return grad.abs().amax(1)


def deconv_projection(layers: Sequence[nn.Module], x: torch.Tensor, channel: int) -> torch.Tensor:
    """Zeiler & Fergus' deconvnet: project the strongest activation of ``channel`` back to pixels.

    layers: Conv2d (stride 1) / ReLU / MaxPool2d modules applied in order; x: (B, C, H, W).
    Returns (B, C, H, W): for each image, the pattern that made its top unit of ``channel`` fire.
    """
    switches: list[tuple[torch.Tensor, torch.Size]] = []
    h = x
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.MaxPool2d):
                size = h.shape
                h, idx = F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, return_indices=True)
                switches.append((idx, size))
            elif isinstance(layer, (nn.Conv2d, nn.ReLU)):
                if isinstance(layer, nn.Conv2d) and layer.stride != (1, 1):
                    raise ValueError(f"deconv_projection needs stride-1 convs, got stride {layer.stride}")
                h = layer(h)
            else:
                raise ValueError(
                    f"deconv_projection handles Conv2d, ReLU and MaxPool2d, got {type(layer).__name__}"
                )
        if not 0 <= channel < h.shape[1]:
            raise ValueError(f"channel must be in [0, {h.shape[1]}), got {channel}")
        # keep only the strongest activation of the chosen channel
        fmap = h[:, channel].flatten(1)  # (B, H'W')
        top = torch.zeros_like(fmap).scatter(1, fmap.argmax(1, keepdim=True), fmap.amax(1, keepdim=True))
        r = torch.zeros_like(h)
        r[:, channel] = top.view_as(h[:, channel])
        for layer in reversed(list(layers)):
            if isinstance(layer, nn.MaxPool2d):
                idx, size = switches.pop()
                r = F.max_unpool2d(
                    r, idx, layer.kernel_size, layer.stride, layer.padding, output_size=size[-2:]
                )
            elif isinstance(layer, nn.ReLU):
                r = F.relu(r)
            else:
                r = F.conv_transpose2d(r, layer.weight, padding=layer.padding)
    return r
