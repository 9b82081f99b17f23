"""The Recurrent Attention Model: a few glimpses, chosen by a stochastic policy, classify an image.

Paper: Mnih, Heess, Graves & Kavukcuoglu, "Recurrent Models of Visual Attention" (arXiv:1406.6247).

    ρ(x, l)  glimpse sensor: S patches centred at l ∈ [−1, 1]², of sizes g, 2g, 4g, ... each resampled
             to g×g (coarser for the larger ones)
    g_t = ReLU(W_g ReLU(W_ρ ρ(x, l_{t−1})) + W_l ReLU(W_ll l_{t−1}))      glimpse network
    h_t = GRU(h_{t−1}, g_t)                                               core network
    l_t ~ N(tanh(W_μ h_t), σ² I)                                          location policy
    ŷ = softmax(W_a h_T)                                                   classifier

Each image is seen through M trajectories (``samples``); trajectory i's loss is
cross-entropy(ŷ⁽ⁱ⁾, y) − Σ_t log π(l_t⁽ⁱ⁾ | h_t⁽ⁱ⁾) · (R⁽ⁱ⁾ − b⁽ⁱ⁾), reward R = log ŷ_y (the log-probability
of the correct class), baseline b⁽ⁱ⁾ = the mean reward of the other M−1 trajectories on the same image,
R − b held fixed and the sampled l_t detached; the REINFORCE term also trains the core (unless
``detach_policy``).

Departures:
1. Each coarser patch is read by bilinear ``F.grid_sample`` (locations are continuous) from the image
   averaged over 2^s×2^s blocks: the paper's "progressively lower resolution" sensor, pooled once per
   level instead of inside each patch.
2. The core is a GRU cell (the paper: a ReLU RNN for classification) — steadier on a small budget.
3. The paper learns a baseline b_t = W_b h_t by regression on R and rewards a correct answer with 1;
   here the leave-one-out baseline (Kool et al. 2019) over M trajectories and the dense log ŷ_y.
4. The first glimpse is at the centre, and ``random_glimpses=True`` replaces the policy by uniform
   random locations (the control the claim compares against).

Legend: B batch, C channels, S scales, g patch side, K glimpses, M trajectories per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def pyramid(images: torch.Tensor, scales: int) -> list[torch.Tensor]:
    """The sensor's levels: images (B, C, H, W) averaged over 2^s×2^s blocks, s = 0..S−1 (computed once
    per image, read by every glimpse)."""
    return [F.avg_pool2d(images, 2**s) if s else images for s in range(scales)]


def patch_grids(levels: list[torch.Tensor], size: int, dtype: torch.dtype) -> list[torch.Tensor]:
    """Each level's g×g sampling grid (g, g, 2) as (x, y) around location 0: what ``glimpse_levels`` shifts.

    affine_grid's pixel centres (align_corners=False) of a g×g patch, scaled to the patch's extent in
    the level: θ = [[g/W, 0, ·], [0, g/H, ·]] as a broadcast, not a batched matmul. They depend on the
    levels' shapes only, so ``RAM.forward`` builds them once for all of its glimpses.
    """
    device = levels[0].device
    base = (torch.arange(size, device=device, dtype=dtype) * 2 + 1) / size - 1  # (g,)
    grids = []
    for level in levels:  # (B, C, H/2^s, W/2^s)
        gx, gy = base * (size / level.shape[3]), base * (size / level.shape[2])
        grids.append(torch.stack([gx.expand(size, size), gy[:, None].expand(size, size)], -1))  # (g, g, 2)
    return grids


def glimpse_levels(
    levels: list[torch.Tensor], loc: torch.Tensor, size: int, grids: list[torch.Tensor] | None = None
) -> torch.Tensor:
    """Multi-resolution patches read from ``pyramid`` levels at loc (B, 2) in [−1, 1] (x, y) -> (B, S·C·g·g).

    ``grids``: ``patch_grids(levels, size, loc.dtype)``, when the caller reads several glimpses."""
    grids = patch_grids(levels, size, loc.dtype) if grids is None else grids
    out = [
        F.grid_sample(level, grid + loc[:, None, None, :], align_corners=False).flatten(1)  # (B, C·g·g)
        for level, grid in zip(levels, grids, strict=True)
    ]
    return torch.cat(out, dim=1)


def glimpse(images: torch.Tensor, loc: torch.Tensor, size: int, scales: int) -> torch.Tensor:
    """Multi-resolution patches: images (B, C, H, W), loc (B, 2) in [−1, 1] (x, y) -> (B, S·C·g·g).

    Scale s covers a (size·2^s)-pixel square around ``loc`` at 2^s-times lower resolution: it is read
    bilinearly from the image averaged over 2^s×2^s blocks (a point resampling at stride 2^s would skip
    most strokes). H and W should be multiples of 2^(S−1) so that every level spans the same extent.
    """
    return glimpse_levels(pyramid(images, scales), loc, size)


@dataclass
class RAMConfig:
    """Sizes of a Recurrent Attention Model."""

    in_channels: int = 1
    """image channels"""
    num_classes: int = 10
    """classes"""
    patch: int = 6
    """g: side of each glimpse patch in pixels (finest scale)"""
    scales: int = 3
    """S: patches per glimpse, each twice the side of the previous"""
    glimpses: int = 4
    """K: glimpses per image"""
    hidden_size: int = 128
    """core state size"""
    std: float = 0.15
    """σ of the Gaussian location policy"""
    detach_policy: bool = False
    """True: the REINFORCE gradient trains only the policy head, not the core (False: as in the paper)"""

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "patch", "scales", "glimpses", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.std <= 0:
            raise ValueError(f"std must be > 0, got {self.std}")


class RAM(nn.Module):
    """images (B, C, H, W) -> (logits (B·M, classes), log_probs (B·M, K−1), locs (B·M, K, 2)) for M
    ``samples`` glimpse trajectories per image (rows image-major: image i's are rows iM … iM+M−1)."""

    def __init__(self, cfg: RAMConfig, random_glimpses: bool = False) -> None:
        super().__init__()
        self.cfg, self.random_glimpses = cfg, random_glimpses
        H = cfg.hidden_size
        self.what = nn.Linear(cfg.scales * cfg.in_channels * cfg.patch**2, H)
        self.where = nn.Linear(2, H)
        self.glimpse_out = nn.Linear(H, H)
        self.loc_out = nn.Linear(H, H)
        self.core = nn.GRUCell(H, H)
        self.loc_mean = nn.Linear(H, 2)
        self.classifier = nn.Linear(H, cfg.num_classes)

    def _step(
        self, levels: list[torch.Tensor], grids: list[torch.Tensor], loc: torch.Tensor, h: torch.Tensor
    ) -> torch.Tensor:
        rho = glimpse_levels(levels, loc, self.cfg.patch, grids)
        g = F.relu(self.glimpse_out(F.relu(self.what(rho))) + self.loc_out(F.relu(self.where(loc))))
        return self.core(g, h)  # (B, H)

    def forward(
        self, images: torch.Tensor, sample: bool = True, samples: int = 1
    ) -> tuple[torch.Tensor, ...]:
        cfg = self.cfg
        if images.dim() != 4 or images.shape[1] != cfg.in_channels:
            raise ValueError(f"expected images (B, {cfg.in_channels}, H, W), got {tuple(images.shape)}")
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        levels = pyramid(images, cfg.scales)
        loc = images.new_zeros(images.shape[0], 2)
        grids = patch_grids(levels, cfg.patch, loc.dtype)  # the same for every glimpse
        # the first glimpse (at the centre) is the same for every trajectory: read it once per image
        h = self._step(levels, grids, loc, images.new_zeros(images.shape[0], cfg.hidden_size))
        if samples > 1:
            levels = [lv.repeat_interleave(samples, 0) for lv in levels]
            h, loc = h.repeat_interleave(samples, 0), loc.repeat_interleave(samples, 0)
        B = h.shape[0]
        log_probs, locs = [], [loc]
        for _ in range(cfg.glimpses - 1):
            if self.random_glimpses:
                loc = torch.rand(B, 2, device=images.device) * 2 - 1
            else:
                mean = torch.tanh(self.loc_mean(h.detach() if cfg.detach_policy else h))
                loc = (mean + cfg.std * torch.randn_like(mean) if sample else mean).detach().clamp(-1, 1)
                # log N(loc; mean, σ²) summed over x, y
                log_probs.append(
                    (
                        -((loc - mean) ** 2) / (2 * cfg.std**2) - math.log(cfg.std * math.sqrt(2 * math.pi))
                    ).sum(-1)
                )
            locs.append(loc)
            h = self._step(levels, grids, loc, h)
        lp = torch.stack(log_probs, 1) if log_probs else h.new_zeros(B, 0)
        return self.classifier(h), lp, torch.stack(locs, 1)


def leave_one_out_baseline(reward: torch.Tensor, samples: int) -> torch.Tensor:
    """reward (B·M,), image-major -> each trajectory's baseline: the mean reward of the other M−1
    trajectories on the same image (Kool et al. 2019). It does not depend on the trajectory's own
    locations, so subtracting it keeps REINFORCE unbiased; it removes how hard the image is."""
    if samples < 2:
        raise ValueError(f"a leave-one-out baseline needs samples >= 2, got {samples}")
    r = reward.view(-1, samples)
    return ((r.sum(1, keepdim=True) - r) / (samples - 1)).reshape(-1)


def reinforce_loss(log_probs: torch.Tensor, reward: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """−Σ_t log π(l_t)·(R − b), advantage held fixed: log_probs (B, T), reward and baseline (B,).

    Descending it raises the log-probability of locations whose episode beat the baseline and lowers it
    for those below (mean over the batch).
    """
    advantage = (reward - baseline).detach()  # (B,)
    return -(log_probs.sum(1) * advantage).mean()


def ram_loss(
    logits: torch.Tensor, log_probs: torch.Tensor, target: torch.Tensor, samples: int
) -> torch.Tensor:
    """Cross-entropy + REINFORCE with reward R = log p(correct class) and the leave-one-out baseline.

    logits (B·M, classes), log_probs (B·M, K−1), target (B·M,), M = ``samples`` trajectories per image.
    """
    ce = F.cross_entropy(logits, target, reduction="none")  # (B·M,)
    if log_probs.shape[1] == 0:  # random glimpses: nothing for the policy to learn
        return ce.mean()
    reward = -ce.detach()
    return ce.mean() + reinforce_loss(log_probs, reward, leave_one_out_baseline(reward, samples))


def place_on_canvas(
    images: torch.Tensor, canvas: int, generator: torch.Generator | None = None, return_centres: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Paste each image (B, C, h, w) at a uniformly random position of a zero canvas -> (B, C, canvas, canvas).

    With ``return_centres`` also return each image's centre (B, 2) as (x, y) in the glimpse coordinates [−1, 1].
    """
    B, C, h, w = images.shape
    if canvas < max(h, w):
        raise ValueError(f"canvas must be >= the image side {max(h, w)}, got {canvas}")
    out = images.new_zeros(B, C, canvas, canvas)
    ys = torch.randint(0, canvas - h + 1, (B,), generator=generator)
    xs = torch.randint(0, canvas - w + 1, (B,), generator=generator)
    # one indexed copy, not a loop over the images: out[i, :, ys[i] + r, xs[i] + c] = images[i, :, r, c]
    rows = (ys[:, None] + torch.arange(h))[:, :, None].to(out.device)  # (B, h, 1)
    cols = (xs[:, None] + torch.arange(w))[:, None, :].to(out.device)  # (B, 1, w)
    batch = torch.arange(B, device=out.device)[:, None, None]  # (B, 1, 1)
    out[batch, :, rows, cols] = images.permute(0, 2, 3, 1)  # indexed as (B, h, w, C)
    if not return_centres:
        return out
    # pixel i spans [2i/W − 1, 2(i+1)/W − 1] under align_corners=False
    centres = torch.stack([(2 * xs + w) / canvas - 1, (2 * ys + h) / canvas - 1], 1).to(images.dtype)
    return out, centres
