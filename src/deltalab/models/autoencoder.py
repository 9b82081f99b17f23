"""Autoencoders: linear (the PCA twin), nonlinear, denoising and masked.

- Linear AE — Baldi & Hornik, "Neural networks and principal component analysis" (1989): the
  minimizers of ‖X − W₂W₁X‖² span the top-k principal subspace but W₁, W₂ are only defined up to
  an invertible k×k map; with L2 weight decay (Kunin et al., "Loss Landscapes of Regularized Linear
  Autoencoders", arXiv:1901.08168) the minimizers become symmetric, W₁ = W₂ᵀ.
- Denoising AE — Vincent et al., "Extracting and Composing Robust Features with Denoising
  Autoencoders" (ICML 2008): reconstruct the clean x from a corrupted x̃ (Gaussian noise, or
  masking noise that zeroes a random fraction of the inputs), L = ‖x − g(f(x̃))‖². Optional
  emphasized denoising and a non-zero mask value (Vincent et al., "Stacked Denoising Autoencoders",
  JMLR 2010, §4.3): the error on the inputs the corruption left unchanged weighs β < 1.

Shapes: N examples, D input size, K bottleneck / hidden size.

Departures: the masked variant zeroes individual pixels (Vincent's masking noise), not patches
(patches are MAE's, models/ssl/mae.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deltalab.train.steps import fit_steps


class LinearAutoencoder(nn.Module):
    """x ↦ W₂W₁x with no biases (center the data first); W₁ = ``encoder.weight`` (K, D), W₂ (D, K)."""

    def __init__(self, in_features: int, bottleneck: int) -> None:
        super().__init__()
        if not 1 <= bottleneck <= in_features:
            raise ValueError(f"bottleneck must be in [1, {in_features}], got {bottleneck}")
        self.encoder = nn.Linear(in_features, bottleneck, bias=False)
        self.decoder = nn.Linear(bottleneck, in_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Autoencoder(nn.Module):
    """Linear → ReLU (the code, (N, K)) → Linear → sigmoid (pixels in [0, 1]), (N, D) → (N, D)."""

    def __init__(self, in_features: int, hidden_dim: int) -> None:
        super().__init__()
        if min(in_features, hidden_dim) < 1:
            raise ValueError(f"sizes must be >= 1, got in_features={in_features}, hidden_dim={hidden_dim}")
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden_dim), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(hidden_dim, in_features), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def gaussian_noise(std: float) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Corruption x̃ = x + std·ε, ε ~ N(0, I)."""
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    return lambda x, g: x + std * torch.randn(x.shape, generator=g).to(x)


def masking_noise(p: float, fill: float = 0.0) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Corruption that sets each input independently with probability p to ``fill`` (0: zeroes it)."""
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    if fill == 0.0:
        return lambda x, g: x * (torch.rand(x.shape, generator=g) >= p).to(x)
    return lambda x, g: torch.where(torch.rand(x.shape, generator=g).to(x.device) < p, fill, x)


@dataclass
class AETrainConfig:
    """Minibatch AdamW training of an autoencoder."""

    steps: int = 1500
    """optimizer steps"""
    batch_size: int = 128
    """examples per step"""
    lr: float = 3e-3
    """AdamW learning rate"""
    weight_decay: float = 0.0
    """AdamW weight decay"""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(
                f"need steps >= 0, batch_size >= 1, lr > 0, got {self.steps}, {self.batch_size}, {self.lr}"
            )


def train_autoencoder(
    model: nn.Module,
    x: torch.Tensor,
    cfg: AETrainConfig,
    corrupt: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    seed: int = 0,
    kept_weight: float = 1.0,
) -> list[float]:
    """Minimize ‖x − model(corrupt(x))‖² (mean over pixels) on x (N, D); returns the losses.

    ``kept_weight`` < 1 is Vincent et al. 2010's emphasized denoising (§4.3, α = 1, β = kept_weight):
    the error on inputs the corruption left unchanged weighs β, on changed ones 1 (0.5: "double
    emphasis"). With Gaussian noise every input changes, so it is the plain loss.
    """
    if not 0 <= kept_weight <= 1:
        raise ValueError(f"kept_weight must be in [0, 1], got {kept_weight}")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(seed)

    def loss_fn() -> torch.Tensor:
        xb = x[torch.randint(0, len(x), (cfg.batch_size,), generator=g).to(x.device)]
        inp = corrupt(xb, g) if corrupt is not None else xb
        err = (model(inp) - xb).pow(2)
        if kept_weight != 1.0:
            err = err * torch.where(inp != xb, 1.0, kept_weight)
        return err.mean()

    return fit_steps(loss_fn, opt, cfg.steps)


def fit_linear_autoencoder(
    model: LinearAutoencoder, x: torch.Tensor, weight_decay: float = 0.0, max_iter: int = 2000
) -> float:
    """Full-batch L-BFGS on ‖X − W₂W₁X‖²/N + λ(‖W₁‖² + ‖W₂‖²) for centered x (N, D).

    Returns the final reconstruction error (without the penalty).
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    opt = torch.optim.LBFGS(
        model.parameters(),
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (model(x) - x).pow(2).sum(1).mean()
        loss = loss + weight_decay * sum(p.pow(2).sum() for p in model.parameters())
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float((model(x) - x).pow(2).sum(1).mean())
