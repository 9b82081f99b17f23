"""Denoising diffusion: the noise schedule, q(x_t | x_0) in closed form, the ε loss and two samplers.

Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models" (arXiv:2006.11239); the fewer-step
sampler is DDIM (Song, Meng, Ermon, arXiv:2010.02502).

    β_t linear from β_1 to β_T,  α_t = 1 − β_t,  ᾱ_t = Π_{s≤t} α_s
    q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)        → x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε
    loss = E ‖ε − ε_θ(x_t, t)‖²                      (the "simple" loss, t uniform)
    ancestral:  x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε_θ) / √α_t + σ_t z,  σ_t² = β_t
    DDIM:  x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ)/√ᾱ_t,  x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε_θ + σ z,
           σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)   (η = 0 deterministic; η = 1 is the DDPM
           ancestral step on the strided sub-sequence, the "respaced" sampler of Nichol & Dhariwal,
           arXiv:2102.09672)

Training aids (all standard; the loss stays the ε-MSE): Adam with a linear warm-up then cosine
decay of the learning rate; an exponential moving average of the weights to sample from (Ho et al.
§4; ``torch.optim.swa_utils.AveragedModel``); optionally t drawn from a non-uniform distribution
``lognormal_t_probs`` — the log-normal over noise levels σ_t = √((1 − ᾱ_t)/ᾱ_t) of Karras et al.
(EDM, arXiv:2206.00364, §5), mixed with the uniform so that every t is still trained. Drawing t
from p(t) is the same as weighting the simple loss by T·p(t).

Departures: (1) t is 0-based (t = 0 … T−1), so ᾱ at index 0 is α_1 of the paper; (2) the
samplers clip x̂_0 to ``clip`` when given (common practice for images in [−1, 1]).

Shapes: B batch, x (B, ...) any data shape; D = 2 for the toy denoiser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from deltalab.models.unet import sinusoidal_embedding
from deltalab.optim.averaging import ema_updater
from deltalab.train.steps import fit_steps

Denoiser = Callable[..., torch.Tensor]


@dataclass
class NoiseSchedule:
    """Linear β schedule and its derived products (ᾱ and friends)."""

    timesteps: int = 1000
    """T, the number of noising steps"""
    beta_start: float = 1e-4
    """β at t = 0"""
    beta_end: float = 0.02
    """β at t = T − 1"""

    def __post_init__(self) -> None:
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {self.beta_start}, {self.beta_end}")
        self.betas = torch.linspace(self.beta_start, self.beta_end, self.timesteps, dtype=torch.float64)
        self.alphas = 1.0 - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)

    def _at(self, v: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return v.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x_t ~ q(x_t | x_0) in closed form; t (B,) integer steps."""
        noise = torch.randn_like(x0) if noise is None else noise
        ab = self._at(self.alpha_bars, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def iterate_noising(
        self, x0: torch.Tensor, t: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """x_t by applying q(x_s | x_{s−1}) = N(√α_s x_{s−1}, β_s I) for s = 0 … t (the reference)."""
        x = x0
        for s in range(t + 1):
            z = torch.randn(x.shape, generator=generator).to(x)
            x = self.alphas[s].sqrt().item() * x + self.betas[s].sqrt().item() * z
        return x

    def draw_t(
        self,
        b: int,
        t_probs: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        stratified: bool = False,
        device: str | torch.device = "cpu",
    ) -> torch.Tensor:
        """(b,) training timesteps: uniform, or from ``t_probs`` (T,); ``stratified`` low-discrepancy.

        Stratified (Kingma et al., VDM, arXiv:2107.00630, App. I): one u₀ ~ U(0, 1),
        u_i = (u₀ + i/b) mod 1, t_i the u_i-quantile of p(t). Each t_i is still distributed as
        p(t), so the loss stays unbiased, but every batch covers p(t) evenly (less gradient noise).
        """
        if stratified:
            u = (torch.rand(1, generator=generator) + torch.arange(b) / b) % 1.0  # (b,)
            probs = torch.ones(self.timesteps) if t_probs is None else t_probs.cpu()
            cdf = torch.cumsum(probs.double(), 0)
            t = torch.searchsorted(cdf / cdf[-1], u.double(), right=True).clamp(max=self.timesteps - 1)
            return t.to(device)
        if t_probs is None:
            return torch.randint(0, self.timesteps, (b,), device=device)
        return torch.multinomial(t_probs, b, replacement=True, generator=generator).to(device)

    def loss(
        self,
        model: Denoiser,
        x0: torch.Tensor,
        cond: torch.Tensor | None = None,
        t_probs: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        stratified: bool = False,
    ) -> torch.Tensor:
        """The ε-prediction ("simple") loss at t uniform, or drawn from ``t_probs`` (T,) when given;
        ``stratified`` draws the batch's t low-discrepancy (``draw_t``)."""
        t = self.draw_t(x0.shape[0], t_probs, generator, stratified, x0.device)
        noise = torch.randn_like(x0)
        pred = (
            model(self.q_sample(x0, t, noise), t)
            if cond is None
            else model(self.q_sample(x0, t, noise), t, cond)
        )
        return (pred - noise).pow(2).mean()

    @torch.no_grad()
    def sample_ancestral(
        self,
        model: Denoiser,
        shape: tuple[int, ...],
        device: str | torch.device = "cpu",
        generator: torch.Generator | None = None,
        clip: float | None = None,
    ) -> torch.Tensor:
        """DDPM ancestral sampling over all T steps from x_T ~ N(0, I)."""
        x = torch.randn(shape, generator=generator).to(device)
        for t in reversed(range(self.timesteps)):
            tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
            eps = model(x, tt)
            ab, a, b = self.alpha_bars[t].item(), self.alphas[t].item(), self.betas[t].item()
            x0 = (x - (1 - ab) ** 0.5 * eps) / ab**0.5
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
            ab_prev = self.alpha_bars[t - 1].item() if t > 0 else 1.0
            # posterior mean written through x̂_0 (equal to the ε form without clipping)
            mean = (ab_prev**0.5 * b / (1 - ab)) * x0 + (a**0.5 * (1 - ab_prev) / (1 - ab)) * x
            if t > 0:
                x = mean + b**0.5 * torch.randn(shape, generator=generator).to(device)
            else:
                x = mean
        return x

    @torch.no_grad()
    def sample_ddim(
        self,
        model: Denoiser,
        shape: tuple[int, ...],
        steps: int = 50,
        device: str | torch.device = "cpu",
        generator: torch.Generator | None = None,
        clip: float | None = None,
        eta: float = 0.0,
    ) -> torch.Tensor:
        """DDIM on ``steps`` evenly strided timesteps: η = 0 deterministic, η = 1 strided ancestral."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be in [1, {self.timesteps}], got {steps}")
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        ts = torch.linspace(self.timesteps - 1, 0, steps).round().long().tolist()
        x = torch.randn(shape, generator=generator).to(device)
        for i, t in enumerate(ts):
            eps = model(x, torch.full((shape[0],), t, device=device, dtype=torch.long))
            ab = self.alpha_bars[t].item()
            x0 = (x - (1 - ab) ** 0.5 * eps) / ab**0.5
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
                eps = (x - ab**0.5 * x0) / (1 - ab) ** 0.5
            ab_next = self.alpha_bars[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
            sigma = eta * ((1 - ab_next) / (1 - ab) * (1 - ab / ab_next)) ** 0.5
            x = ab_next**0.5 * x0 + max(1 - ab_next - sigma**2, 0.0) ** 0.5 * eps
            if sigma > 0:
                x = x + sigma * torch.randn(shape, generator=generator).to(device)
        return x


def lognormal_t_probs(
    schedule: NoiseSchedule, mean: float, std: float, uniform_mix: float = 0.2
) -> torch.Tensor:
    """p(t) (T,): log σ_t ~ N(mean, std²) as in EDM (σ_t = √((1 − ᾱ_t)/ᾱ_t)), mixed with uniform."""
    if std <= 0 or not 0.0 <= uniform_mix <= 1.0:
        raise ValueError(f"need std > 0 and uniform_mix in [0, 1], got {std}, {uniform_mix}")
    log_sigma = (((1 - schedule.alpha_bars) / schedule.alpha_bars).sqrt().log()).float()  # (T,)
    dlog = torch.diff(log_sigma, append=2 * log_sigma[-1:] - log_sigma[-2:-1])  # density → mass per t
    p = torch.exp(-0.5 * ((log_sigma - mean) / std) ** 2) * dlog
    return (1 - uniform_mix) * p / p.sum() + uniform_mix / schedule.timesteps


class MLPDenoiser(nn.Module):
    """ε_θ(x_t, t) for low-dimensional data: [x ‖ emb(t)] → MLP → (B, D)."""

    def __init__(
        self, dim: int = 2, hidden_dim: int = 128, num_layers: int = 3, time_embed_dim: int = 32
    ) -> None:
        super().__init__()
        if dim < 1 or hidden_dim < 1 or num_layers < 1:
            raise ValueError(
                f"dim, hidden_dim and num_layers must be >= 1, got {dim}, {hidden_dim}, {num_layers}"
            )
        self.time_embed_dim = time_embed_dim
        layers: list[nn.Module] = [nn.Linear(dim + time_embed_dim, hidden_dim), nn.SiLU()]
        for _ in range(num_layers - 1):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.SiLU()]
        layers.append(nn.Linear(hidden_dim, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, sinusoidal_embedding(t, self.time_embed_dim)], dim=1))  # (B, D)


def train_diffusion(
    model: nn.Module,
    schedule: NoiseSchedule,
    data: torch.Tensor,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    generator: torch.Generator | None = None,
    warmup: int = 0,
    ema: AveragedModel | None = None,
    t_probs: torch.Tensor | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    fused: bool | None = None,
    stratified_t: bool = False,
) -> list[float]:
    """Adam on the ε loss with random mini-batches of ``data`` (N, ...); returns the losses.

    The lr rises linearly over ``warmup`` steps, then decays to 0 on a cosine; ``ema`` (an
    ``AveragedModel`` of ``model``) is updated after every step; ``t_probs`` (T,) draws t.
    ``weight_decay`` > 0 makes it AdamW (decoupled decay); ``fused=True`` is torch's one-kernel
    step (same update, a fraction of the per-step overhead on small models); ``stratified_t``
    draws each batch's t low-discrepancy (see ``NoiseSchedule.loss``).
    """
    if steps < 1 or not 0 <= warmup < steps:
        raise ValueError(f"need steps >= 1 and 0 <= warmup < steps, got steps={steps}, warmup={warmup}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    opt = (
        torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
        if weight_decay > 0
        else torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=fused)
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda i: (
            (i + 1) / warmup
            if i < warmup
            else 0.5 * (1 + math.cos(math.pi * (i - warmup) / (steps - warmup)))
        ),
    )
    ema_step = ema_updater(ema, model) if ema is not None else None

    def loss_fn() -> torch.Tensor:
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator).to(data.device)
        return schedule.loss(model, data[idx], t_probs=t_probs, generator=generator, stratified=stratified_t)

    def after_step(step: int, loss: torch.Tensor) -> None:
        if ema_step is not None:
            ema_step()

    return fit_steps(loss_fn, opt, steps, scheduler=sched, after_step=after_step)  # one host sync, at the end
