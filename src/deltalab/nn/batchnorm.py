"""Batch normalization, written out (the curriculum's "scratch" twin of ``nn.BatchNorm1d/2d``).

Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", arXiv:1502.03167. Per feature (B, F) — or per channel over B×L / B×H×W for
(B, C, L) / (B, C, H, W) inputs — in training mode:

    μ = mean(x),  σ² = mean((x − μ)²)                     (biased, over the reduced dims)
    y = γ · (x − μ) / sqrt(σ² + eps) + β
    running_mean ← (1 − m) · running_mean + m · μ
    running_var  ← (1 − m) · running_var  + m · σ² · n/(n − 1)   (unbiased, n values per channel)

and in eval mode y = γ · (x − running_mean) / sqrt(running_var + eps) + β.

Departures from the paper, all to match torch's twin so the two can be swapped (same argument
names, same parameter and buffer names, same state_dict):
1. running statistics use an exponential moving average with ``momentum`` (paper: population
   averages after training); ``momentum=None`` gives torch's cumulative average.
2. the running variance is the unbiased estimate, as in torch.
Running statistics are updated under ``torch.no_grad()`` from detached batch statistics, so the
autograd graph is never kept across steps.

Shapes: B batch, F features, C channels, L length, H×W spatial.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchNorm(nn.Module):
    """Batch norm over dim 1 of a (B, F), (B, C, L) or (B, C, H, W) input.

    num_features: F or C; eps: added to the variance; momentum: running-stat update rate
    (None: cumulative average); affine: learn γ (``weight``) and β (``bias``);
    track_running_stats: keep running statistics and use them in eval mode.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4):
            raise ValueError(
                f"BatchNorm expects (B, F), (B, C, L) or (B, C, H, W), got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"expected {self.num_features} features/channels in dim 1, got shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        dims = [0, *range(2, x.dim())]  # every dim but the channel one
        shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast (C,) against (B, C, ...)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = x.numel() // x.shape[1]
            if n < 2 and self.training:
                raise ValueError(
                    f"expected more than 1 value per channel when training, got shape {tuple(x.shape)}"
                )
            mean = x.mean(dim=dims)  # (C,)
            var = x.var(dim=dims, unbiased=False)  # (C,) biased: used to normalize
            if self.training and self.track_running_stats:
                self._update_running(mean.detach(), var.detach(), n)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)  # (B, C, ...)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
        self.num_batches_tracked += 1
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (n / (n - 1))
        self.running_mean.mul_(1 - m).add_(m * mean)
        self.running_var.mul_(1 - m).add_(m * unbiased)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )
