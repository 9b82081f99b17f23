"""Chapter L, noise as a regularizer and losses as likelihoods.

input-noise-is-ridge and dropout-is-ridge train with fresh noise every step and compare the
(Polyak-averaged) iterate with the ridge closed form of :mod:`deltalab.theory.linear`;
likelihood-losses compares torch.distributions' log-likelihoods with torch's losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deltalab.data.synthetic import regression
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.theory import likelihood as lk
from deltalab.theory import linear as th


def _averaged_noisy_gd(
    X: torch.Tensor, t: torch.Tensor, noisy: callable, lr: float, steps: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Full-batch GD on the mean squared error of ``noisy(X)`` (fresh noise each step); returns the
    average of the second half's iterates and the trajectory of that average."""
    n, d = X.shape
    w = torch.zeros(d, dtype=X.dtype)
    avg, k_avg, trail = torch.zeros_like(w), 0, []
    for k in range(steps):
        Xn = noisy(X)
        w = w - lr * 2 * Xn.T @ (Xn @ w - t) / n
        if k >= steps // 2:
            k_avg += 1
            avg += (w - avg) / k_avg
            if k_avg % 50 == 0:
                trail.append(avg.clone())
    return avg, trail


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@experiment(
    chapter="L",
    title="Training on noisy inputs is ridge regression",
    claim="least squares on inputs with fresh N(0,σ²) noise converges in expectation to ridge: λ=nσ² for the "
    "summed squared error over n samples (λ=σ² for the mean)",
)
def input_noise_is_ridge(ctx: Context):
    """`deltalab run input-noise-is-ridge` — the averaged iterate within 2% of ridge (mean
    convention, λ = σ²; equivalently λ = nσ² for the summed loss), and clearly away from plain
    least squares (> 10%), so the match is not vacuous. Quick: ~2 s."""
    g = torch.Generator().manual_seed(ctx.seed)
    n, d, sigma = 200, 5, 0.7
    X, t, _ = regression(n, d, noise=0.3, generator=g)
    lam_mean = th.noise_ridge_lambda(n, sigma, "mean")
    lam_sum = th.noise_ridge_lambda(n, sigma, "sum")
    w_ridge = th.ridge(X, t, lam_sum)  # summed form: (XᵀX + nσ²I) w = Xᵀt
    w_ridge_mean = th.ridge(X / n**0.5, t / n**0.5, lam_mean)
    w_ls = th.least_squares(X, t)
    steps = ctx.pick(quick=6000, full=100000)
    noise_gen = torch.Generator().manual_seed(ctx.seed + 1)
    avg, trail = _averaged_noisy_gd(
        X, t, lambda A: A + sigma * torch.randn(A.shape, generator=noise_gen, dtype=A.dtype), 0.05, steps
    )
    metrics = {
        "rel_err_vs_ridge": _rel(avg, w_ridge),
        "rel_ridge_vs_ls": _rel(w_ridge, w_ls),
        "rel_err_vs_ls": _rel(avg, w_ls),
        "conventions_agree": _rel(w_ridge_mean, w_ridge),
        "lambda_sum": lam_sum,
        "lambda_mean": lam_mean,
    }
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy([_rel(a, w_ridge) for a in trail], label="vs ridge (λ = nσ²)")
    ax.semilogy([_rel(a, w_ls) for a in trail], label="vs least squares")
    ax.axhline(0.02, color="k", ls=":")
    ax.set(
        xlabel="averaging window (×50 steps)",
        ylabel="relative distance of averaged iterate",
        title="input-noise-is-ridge",
    )
    ax.legend()
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        [Bar("rel_err_vs_ridge", "<=", 0.02), Bar("rel_ridge_vs_ls", ">", 0.10)],
        bar="averaged noisy-input GD within 2% of ridge with λ = nσ² (summed) = σ² (mean); "
        "ridge ≥ 10% from plain least squares",
        config={"n": n, "d": d, "sigma": sigma, "steps": steps, "lr": 0.05},
    )


@experiment(
    chapter="L",
    title="Dropout on a linear model is an adaptive ridge",
    claim="with keep probability p (torch's dropout p is the drop probability, 1−p here) and inverted scaling, "
    "the expected loss is ‖y−Xw‖² + (1−p)/p·‖Γw‖², Γ=diag of X's column norms",
)
def dropout_is_ridge(ctx: Context):
    """`deltalab run dropout-is-ridge` — Monte-Carlo mean of the dropout loss (torch's
    ``F.dropout``, drop probability 1−p) within 1% of the closed form; the dropout-trained
    minimizer within 2% of the Γ-ridge solution. Quick: ~3 s."""
    g = torch.Generator().manual_seed(ctx.seed)
    n, d, keep = 200, 6, 0.7
    scales = torch.tensor([0.3, 0.6, 1.0, 1.5, 2.5, 4.0], dtype=torch.float64)
    X, t, _ = regression(n, d, noise=0.3, generator=g)
    X = X * scales  # unequal column norms make Γ matter
    torch.manual_seed(ctx.seed + 1)
    w_probe = torch.randn(d, generator=g, dtype=torch.float64)
    samples = ctx.pick(quick=4000, full=20000)
    mc = torch.stack([((t - F.dropout(X, p=1 - keep) @ w_probe) ** 2).sum() for _ in range(samples)])
    closed = th.dropout_expected_loss(X, t, w_probe, keep)
    w_closed = th.dropout_ridge(X, t, keep)
    steps = ctx.pick(quick=8000, full=100000)
    lr = 0.2 / float(torch.linalg.eigvalsh(X.T @ X / n).max())
    avg, trail = _averaged_noisy_gd(X, t, lambda A: F.dropout(A, p=1 - keep), lr, steps)
    running = torch.cumsum(mc, 0) / torch.arange(1, samples + 1)
    metrics = {
        "mc_rel_err": float((mc.mean() - closed).abs() / closed),
        "mc_standard_error_rel": float(mc.std() / samples**0.5 / closed),
        "minimizer_rel_err": _rel(avg, w_closed),
        "rel_ridge_vs_ls": _rel(w_closed, th.least_squares(X, t)),
    }
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(running.numpy(), label="Monte-Carlo mean")
    a1.axhline(float(closed), color="k", ls="--", label="‖y−Xw‖² + (1−p)/p‖Γw‖²")
    a1.set(xlabel="dropout masks drawn", ylabel="loss at a fixed w", title="expected loss")
    a1.legend()
    a2.bar(range(d), w_closed.numpy(), alpha=0.5, label="Γ-ridge closed form")
    a2.plot(range(d), avg.numpy(), "kx", ms=10, label="dropout-trained (averaged)")
    a2.set(xlabel="weight (columns scaled 0.3 … 4)", title="minimizers")
    a2.legend()
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        [Bar("mc_rel_err", "<=", 0.01), Bar("minimizer_rel_err", "<=", 0.02)],
        bar="Monte-Carlo mean within 1% of the closed form; minimizers agree within 2%",
        config={"n": n, "d": d, "keep": keep, "samples": samples, "steps": steps},
    )


@experiment(
    chapter="L",
    title="Each loss is a negative log-likelihood",
    claim="the loss follows from the assumed noise: Gaussian → sum of squared errors, Bernoulli → binary "
    "cross-entropy, multinomial → cross-entropy (each the negative log-likelihood up to constants)",
)
def likelihood_losses(ctx: Context):
    """`deltalab run likelihood-losses` — for each pair, NLL (torch.distributions) minus the loss
    (torch.nn.functional) is constant across random predictions to 1e-6, and the parameters fitted
    by minimizing either coincide (1e-5 relative). Quick: ~2 s."""
    g = torch.Generator().manual_seed(ctx.seed)
    offsets = lk.offset_spreads(trials=ctx.pick(quick=200, full=2000), generator=g)
    fits = lk.fit_both_ways(generator=g)
    metrics = {f"offset_spread_{k}": v["spread"] for k, v in offsets.items()}
    metrics.update({f"param_rel_diff_{k}": v for k, v in fits.items()})
    metrics["max_offset_spread"] = max(v["spread"] for v in offsets.values())
    metrics["max_param_rel_diff"] = max(fits.values())
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, (k, v) in zip(axes, offsets.items()):
        ax.plot(v["loss"], v["nll"], ".", ms=3)
        ax.set(xlabel=v["loss_name"], ylabel="negative log-likelihood", title=k)
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        [Bar("max_offset_spread", "<=", 1e-6), Bar("max_param_rel_diff", "<=", 1e-5)],
        bar="NLL − loss constant across predictions to 1e-6 for each pair; fitted parameters coincide",
        config={"pairs": list(offsets)},
    )
