"""Yardsticks for 2-D generative samples: mode coverage on the 8-Gaussian ring, sliced Wasserstein.

- Mode coverage (the test of Metz et al., "Unrolled Generative Adversarial Networks",
  arXiv:1611.02163): a sample is *near* mode k when it lies within ``n_std`` standard deviations
  of centre k; a mode is *held* when it receives at least ``min_share`` of all samples. The
  *spread ratio* (RMS per-coordinate offset of near samples from their centre, over ``std``) tells
  a generator that collapses inside each mode (≪ 1) from one that matches the data's spread (≈ 1,
  a little less for data, whose 3σ cut trims the tails).
- Sliced Wasserstein-1 (Rabin et al. 2011; Bonneel et al. 2015): the mean over random unit
  directions θ of the 1-D Wasserstein-1 distance between the projections ⟨x, θ⟩ of two equal-size
  samples, which for sorted projections u, v is mean |u_(i) − v_(i)|.

A finite sample is never at distance 0 from its own distribution: ``sliced_wasserstein_floor``
measures two independent data samples of the same size; generated samples are compared with it.

Shapes: N samples, D = 2 dimensions, P projections.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def mode_coverage(
    x: torch.Tensor, centers: torch.Tensor, std: float, n_std: float = 3.0, min_share: float = 0.05
) -> dict[str, float]:
    """Modes held (each ≥ ``min_share`` of samples within ``n_std``·std), the share near any mode,
    and the spread ratio of the near samples (module docstring)."""
    if x.dim() != 2 or x.shape[1] != centers.shape[1]:
        raise ValueError(f"samples must be (N, {centers.shape[1]}), got {tuple(x.shape)}")
    d = torch.cdist(x.float(), centers.to(x.device).float())  # (N, K)
    dmin, k = d.min(dim=1)
    near = dmin <= n_std * std
    shares = torch.bincount(k[near], minlength=centers.shape[0]).float() / x.shape[0]
    offsets = x.float()[near] - centers.to(x.device).float()[k[near]]  # (N_near, D)
    spread = float(offsets.pow(2).mean().sqrt() / std) if near.any() else float("nan")
    return {
        "modes_held": float((shares >= min_share).sum()),
        "near_frac": float(near.float().mean()),
        "spread_ratio": spread,
    }


def sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, n_projections: int = 256, generator: torch.Generator | None = None
) -> float:
    """Sliced Wasserstein-1 between two samples of equal size (N, D)."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"samples must both be (N, D) of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    theta = torch.randn(a.shape[1], n_projections, generator=generator)
    theta = (theta / theta.norm(dim=0, keepdim=True)).to(a.device)  # (D, P)
    pa = torch.sort(a.float() @ theta, dim=0).values  # (N, P)
    pb = torch.sort(b.float() @ theta, dim=0).values
    return float((pa - pb).abs().mean())


def sliced_wasserstein_floor(
    sample: Callable[[int, int], torch.Tensor], n: int, repeats: int = 5, seed: int = 0
) -> float:
    """Mean SW between pairs of independent data samples of size n: the best any model can score.

    ``sample(n, seed)`` returns (n, D) fresh data for each seed.
    """
    vals = []
    for r in range(repeats):
        a, b = sample(n, seed + 2 * r + 1000), sample(n, seed + 2 * r + 1001)
        vals.append(sliced_wasserstein(a, b, generator=torch.Generator().manual_seed(seed + r)))
    return float(sum(vals) / len(vals)) if not math.isnan(sum(vals)) else float("nan")
