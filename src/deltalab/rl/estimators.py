"""Score-function (REINFORCE, Williams 1992) and reparameterization (Kingma & Welling, arXiv:1312.6114)
gradients of E_{x~N(μ,σ²)}[f(x)] with respect to μ, against the exact gradient.

    score function:     ∂/∂μ E[f(x)] = E[ f(x) · ∂/∂μ log N(x; μ, σ²) ] = E[ f(x) (x - μ) / σ² ]
    reparameterization: x = μ + σ ε, ε ~ N(0, 1)  ⇒  ∂/∂μ E[f(x)] = E[ f'(μ + σ ε) ]

Both are computed with torch.distributions.Normal (``log_prob`` for the score, ``rsample`` for the
reparameterized draw) and autograd, one sample per estimate; the exact gradients come from closed
forms. Departures: none.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.distributions import Normal


def _mu_leaf(mu: float, sigma: float, n: int) -> torch.Tensor:
    """μ repeated n times as a float64 leaf to differentiate against, one copy per estimate: (n,)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    return torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True)


def score_function_grads(
    f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float, n: int, generator: torch.Generator
) -> torch.Tensor:
    """``n`` single-sample score-function estimates of ∂/∂μ E[f(x)]: (n,)."""
    mu_t = _mu_leaf(mu, sigma, n)
    x = (mu_t + sigma * torch.randn(n, generator=generator, dtype=torch.float64)).detach()  # sample, no path
    surrogate = (f(x) * Normal(mu_t, sigma).log_prob(x)).sum()
    (g,) = torch.autograd.grad(surrogate, mu_t)
    return g


def reparam_grads(
    f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float, n: int, generator: torch.Generator
) -> torch.Tensor:
    """``n`` single-sample reparameterization estimates of ∂/∂μ E[f(x)]: (n,)."""
    mu_t = _mu_leaf(mu, sigma, n)
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    x = mu_t + sigma * eps  # what Normal(mu, sigma).rsample() computes; explicit so the generator is used
    (g,) = torch.autograd.grad(f(x).sum(), mu_t)
    return g


def exact_grad_quadratic(mu: float, sigma: float) -> float:
    """f(x) = x²: E[f] = μ² + σ², so ∂/∂μ = 2μ."""
    return 2.0 * mu


def exact_grad_sin(mu: float, sigma: float, k: float) -> float:
    """f(x) = sin(kx): E[f] = sin(kμ) exp(-k²σ²/2), so ∂/∂μ = k cos(kμ) exp(-k²σ²/2)."""
    return k * math.cos(k * mu) * math.exp(-0.5 * k * k * sigma * sigma)
