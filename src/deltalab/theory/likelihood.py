"""Losses as negative log-likelihoods (the noise model decides the loss).

    Gaussian y ~ N(μ, σ²):        −log p = Σ(y−μ)²/(2σ²) + n·log(σ√(2π))   → sum of squared errors
    Bernoulli t ~ B(p):           −log p = −Σ t log p + (1−t) log(1−p)      → binary cross-entropy
    Multinomial t ~ Cat(softmax): −log p = −Σ log softmax(a)_t               → cross-entropy

The likelihoods come from ``torch.distributions`` and the losses from ``torch.nn.functional``, so
the check compares two independent implementations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import distributions as D

from deltalab.theory.linear import least_squares

SIGMA = 0.5


def _pairs(n: int, generator: torch.Generator) -> dict[str, tuple[Callable, Callable, Callable, str]]:
    """name → (target sampler, prediction sampler, (pred, target) → (nll, loss), loss name)."""
    f64 = torch.float64
    return {
        "gaussian": (
            lambda: torch.randn(n, generator=generator, dtype=f64),
            lambda: torch.randn(n, generator=generator, dtype=f64),
            lambda mu, y: (
                -D.Normal(mu, SIGMA).log_prob(y).sum(),
                F.mse_loss(mu, y, reduction="sum") / (2 * SIGMA**2),
            ),
            "SSE / (2σ²)",
        ),
        "bernoulli": (
            lambda: torch.randint(0, 2, (n,), generator=generator).to(f64),
            lambda: torch.sigmoid(2 * torch.randn(n, generator=generator, dtype=f64)),
            lambda p, t: (
                -D.Bernoulli(probs=p).log_prob(t).sum(),
                F.binary_cross_entropy(p, t, reduction="sum"),
            ),
            "binary cross-entropy",
        ),
        "multinomial": (
            lambda: torch.randint(0, 5, (n,), generator=generator),
            lambda: 2 * torch.randn(n, 5, generator=generator, dtype=f64),
            lambda a, t: (-D.Categorical(logits=a).log_prob(t).sum(), F.cross_entropy(a, t, reduction="sum")),
            "cross-entropy",
        ),
    }


def offset_spreads(
    trials: int = 200, n: int = 20, generator: torch.Generator | None = None
) -> dict[str, dict]:
    """For each noise model: NLL − loss over ``trials`` random predictions of fixed targets.

    Returns name → {"spread": max − min of the offset, "nll": [...], "loss": [...], "loss_name"}.
    """
    g = generator or torch.Generator().manual_seed(0)
    out = {}
    for name, (targets, preds, both, loss_name) in _pairs(n, g).items():
        y = targets()
        vals = [both(preds(), y) for _ in range(trials)]
        nll = torch.stack([v[0] for v in vals])
        loss = torch.stack([v[1] for v in vals])
        diff = nll - loss
        out[name] = {
            "spread": float(diff.max() - diff.min()),
            "offset": float(diff.mean()),
            "nll": nll.tolist(),
            "loss": loss.tolist(),
            "loss_name": loss_name,
        }
    return out


def _lbfgs(objective: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]) -> torch.Tensor:
    w = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w], lr=1, max_iter=300, tolerance_grad=1e-13, tolerance_change=1e-16, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = objective(w)
        value.backward()
        return value

    for _ in range(3):
        opt.step(closure)
    return w.detach()


def fit_both_ways(n: int = 300, d: int = 4, generator: torch.Generator | None = None) -> dict[str, float]:
    """Fit a linear model by maximum likelihood and by the matching loss; relative parameter gap.

    Gaussian: L-BFGS on the Normal NLL vs :func:`deltalab.theory.linear.least_squares`. Bernoulli / multinomial: L-BFGS on the distribution's NLL vs L-BFGS on torch's loss (noisy
    labels keep the optimum finite).
    """
    g = generator or torch.Generator().manual_seed(0)
    f64 = torch.float64
    X = torch.randn(n, d, generator=g, dtype=f64)
    w_true = torch.randn(d, generator=g, dtype=f64)
    y = X @ w_true + SIGMA * torch.randn(n, generator=g, dtype=f64)
    t_bin = (torch.rand(n, generator=g, dtype=f64) < torch.sigmoid(X @ w_true)).to(f64)
    W_true = torch.randn(d, 3, generator=g, dtype=f64)
    t_cat = torch.multinomial(torch.softmax(X @ W_true, dim=1), 1, generator=g).squeeze(1)
    rel = lambda a, b: float((a - b).norm() / b.norm())
    gauss_ml = _lbfgs(lambda w: -D.Normal(X @ w, SIGMA).log_prob(y).sum(), (d,))
    gauss_ls = least_squares(X, y)
    bern_ml = _lbfgs(lambda w: -D.Bernoulli(logits=X @ w).log_prob(t_bin).sum(), (d,))
    bern_loss = _lbfgs(lambda w: F.binary_cross_entropy_with_logits(X @ w, t_bin, reduction="sum"), (d,))
    cat_ml = _lbfgs(lambda W: -D.Categorical(logits=X @ W).log_prob(t_cat).sum(), (d, 3))
    cat_loss = _lbfgs(lambda W: F.cross_entropy(X @ W, t_cat, reduction="sum"), (d, 3))
    return {
        "gaussian": rel(gauss_ml, gauss_ls),
        "bernoulli": rel(bern_ml, bern_loss),
        "multinomial": rel(cat_ml, cat_loss),
    }
