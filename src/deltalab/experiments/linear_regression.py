"""Chapter L, least squares: GD variants, step sizes, normal equations, min-norm, ridge as MAP.

All in float64 on synthetic problems with a known answer from :mod:`deltalab.theory.linear`.
"""

from __future__ import annotations

import math
import time

import torch

from deltalab.data.synthetic import regression
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.theory import linear as th


def _mse(X: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> float:
    return float(((X @ w - t) ** 2).mean())


@experiment(
    chapter="L",
    title="Batch, stochastic and minibatch GD reach the same least-squares optimum",
    claim="batch, stochastic (one sample) and minibatch GD reach the same least-squares optimum; "
    "minibatch is best per second",
)
def gd_variants(ctx: Context):
    """`deltalab run gd-variants` — each variant within 1e-3 relative of the closed-form loss.

    Batch GD uses the step 1/λ_max; SGD (one sample, step 0.05/λ_max) and minibatch (32, step
    0.5/λ_max) use a constant step and report the average of the iterates after the first 10%
    (Polyak–Ruppert averaging). Seconds to reach 1e-3 are reported for each (minibatch is usually
    fastest). Quick: ~1.5 s.

    SGD's averaged gap at seeds 0-159: at most 3.3e-4 (mean 1.2e-4). Before, with step 0.1/λ_max and
    the second half averaged, it failed at seed 22 (1.09e-3) and seed 31 (1.8e-3; mean 6.1e-4 over
    seeds 0-59): averaging 15000 one-sample iterates leaves about d/k ≈ 7e-4 of their noise. Measured
    at seeds 0-59 (max / mean): the second half at 60 epochs 6.9e-4 / 3.1e-4; averaging after 10% or
    25% at step 0.1/λ_max 7.9e-4 / 3.2e-4 and 7.7e-4 / 3.9e-4; step 0.05/λ_max over the second half
    4.7e-4 / 2.1e-4; step 0.05/λ_max after 10% (kept) 2.6e-4 / 1.0e-4.
    """
    g = torch.Generator().manual_seed(ctx.seed)
    n, d = ctx.pick(quick=1000, full=4000), 10
    X, t, _ = regression(n, d, noise=0.5, generator=g)
    w_cf = th.least_squares(X, t)
    best = _mse(X, t, w_cf)
    lmax = float(torch.linalg.eigvalsh(X.T @ X / n).max())
    epochs = ctx.pick(quick=30, full=60)

    def run(batch: int, lr: float) -> tuple[list[float], list[float], torch.Tensor]:
        """Constant step; SGD and minibatch report the running average of the iterates after the
        first 10% (Polyak–Ruppert), which removes the noise floor a constant step leaves."""
        w = torch.zeros(d, dtype=X.dtype)
        avg = torch.zeros(d, dtype=X.dtype)
        steps_per_epoch = math.ceil(n / batch)
        total = epochs * steps_per_epoch if batch < n else ctx.pick(quick=300, full=1000)
        times, gaps = [0.0], [(_mse(X, t, w) - best) / best]
        gen = torch.Generator().manual_seed(ctx.seed + 1)
        order = torch.randperm(n, generator=gen)
        elapsed, k, n_avg = 0.0, 0, 0
        record = max(1, total // 200)
        while k < total:
            t0 = time.perf_counter()
            if batch < n:
                j = k % steps_per_epoch
                if j == 0:
                    order = torch.randperm(n, generator=gen)
                i = order[j * batch : (j + 1) * batch]
                Xb, tb = X[i], t[i]
            else:
                Xb, tb = X, t
            w -= lr * (Xb.T @ (Xb @ w - tb)) / len(tb)
            if batch < n and k >= total // 10:
                n_avg += 1
                avg += (w - avg) / n_avg
            elapsed += time.perf_counter() - t0
            k += 1
            if k % record == 0 or k == total:
                times.append(elapsed)
                gaps.append((_mse(X, t, avg if n_avg else w) - best) / best)
        return times, gaps, (avg if n_avg else w)

    variants = {"batch": (n, 1.0 / lmax), "sgd": (1, 0.05 / lmax), "minibatch": (32, 0.5 / lmax)}
    metrics: dict[str, float] = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (batch, lr) in variants.items():
        times, gaps, w = run(batch, lr)
        gap = (_mse(X, t, w) - best) / best
        metrics[f"rel_gap_{name}"] = gap
        hit = [tt for tt, gg in zip(times, gaps) if gg <= 1e-3]
        metrics[f"seconds_to_1e-3_{name}"] = hit[0] if hit else float(times[-1])
        ax.semilogy(times, [max(x, 1e-12) for x in gaps], label=f"{name} (batch {batch})")
        ctx.series(f"gap_{name}", {"seconds": times, "rel_gap": gaps})
    ax.axhline(1e-3, color="k", ls=":", label="1e-3")
    ax.set(xlabel="seconds (update time only)", ylabel="(loss − loss*) / loss*", title="gd-variants")
    ax.legend()
    ctx.savefig(fig)
    metrics["worst_rel_gap"] = max(metrics[f"rel_gap_{v}"] for v in variants)
    return ctx.result(
        metrics,
        [Bar("worst_rel_gap", "<=", 1e-3)],
        bar="batch, SGD and minibatch each within 1e-3 relative of the closed-form loss",
        config={"n": n, "d": d, "epochs": epochs, "steps": {k: v[1] for k, v in variants.items()}},
    )


@experiment(
    chapter="L",
    title="GD converges iff 0 < η < 2/λ_max, fastest at η* = 2/(λ_max+λ_min)",
    claim="on least squares GD converges iff 0<η<2/λ_max; fastest fixed step η*=2/(λ_max+λ_min) with rate "
    "(κ−1)/(κ+1)",
)
def sgd_step_size(ctx: Context):
    """`deltalab run sgd-step-size` — measured 1 − contraction within 5% of theory over an η sweep.

    Hessian spectrum λ ∈ [1, 10] (log-spaced, d = 8). The measured contraction is the geometric
    mean of ‖w_k − w*‖ ratios over the last steps; divergence must show for every η > 2/λ_max. GD
    starts with the same error along every eigendirection of H (``w_start``): the asymptotic rate is
    that of the slowest mode, which a start must contain. From w = 0 (before) the worst relative error
    of 1 − contraction was 0.3381 at seed 6 and 0.0787 at seed 13 (bar 0.05; 2.6e-6 to 0.035 at the
    other 14 of seeds 0-15): there -w* had 0.1% of its norm along λ_min's direction. Now, at seeds
    0-31: at most 0.0020 (the 50-step window's own bias), every η above 2/λ_max diverging. Quick: < 1 s.
    """
    g = torch.Generator().manual_seed(ctx.seed)
    d, n = 8, 200
    lam = torch.logspace(0, 1, d, dtype=torch.float64)
    X, t, _ = regression(n, d, noise=0.3, eigenvalues=lam, generator=g)
    H = X.T @ X / n
    eig, V = torch.linalg.eigh(H)
    w_star = th.least_squares(X, t)
    # The start puts the same error on every eigendirection of H, so the slowest mode, whose rate
    # theory predicts, is there to dominate. From w = 0 the error is -w*, whose share along a
    # direction can be tiny (0.1% along λ_min at seed 6): the run then reached its 1e-10 stop while
    # a faster mode still led, and measured 1 − contraction 34% off.
    w_start = w_star + V.sum(1) * (w_star.norm() / math.sqrt(d))
    eta_star, rate_star = th.optimal_step(eig)
    limit = 2.0 / float(eig.max())
    etas = [f * limit for f in (0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.97)] + [eta_star]
    above = [f * limit for f in (1.03, 1.1, 1.3)]
    rel_errs, measured, theory, steps_used = [], [], [], []
    for eta in etas + above:
        # Run until the error has shrunk 1e10-fold (or grown 1e6-fold): by then the slowest mode
        # dominates and the per-step ratio is the asymptotic contraction that theory predicts.
        w = w_start.clone()
        e0 = float((w - w_star).norm())
        norms = [e0]
        while 1e-10 * e0 < norms[-1] < 1e6 * e0 and len(norms) < 20000:
            w = w - eta * (X.T @ (X @ w - t)) / n
            norms.append(float((w - w_star).norm()))
        span = min(50, len(norms) - 1)
        contraction = (norms[-1] / norms[-1 - span]) ** (1 / span)
        measured.append(contraction)
        steps_used.append(len(norms) - 1)
        theory.append(th.gd_rate(eig, eta))
        if eta < limit:
            rel_errs.append(abs((1 - contraction) - (1 - theory[-1])) / (1 - theory[-1]))
    diverged = [m > 1 for m, eta in zip(measured, etas + above) if eta > limit]
    converged = [m < 1 for m, eta in zip(measured, etas + above) if eta < limit]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = etas + above
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ax.plot([xs[i] for i in order], [theory[i] for i in order], "k-", label="theory max|1−ηλ|")
    ax.plot(xs, measured, "o", label="measured contraction")
    ax.axvline(limit, color="r", ls=":", label="2/λ_max")
    ax.axvline(eta_star, color="g", ls="--", label="η*")
    ax.set(xlabel="step size η", ylabel="per-step contraction", title="sgd-step-size", ylim=(0, 1.6))
    ax.legend()
    ctx.savefig(fig)
    ctx.series("sweep", {"eta": xs, "measured": measured, "theory": theory})
    i_star = etas.index(eta_star)
    metrics = {
        "max_rel_err_1_minus_rate": max(rel_errs),
        "frac_diverged_above": sum(diverged) / len(diverged),
        "frac_converged_below": sum(converged) / len(converged),
        "eta_star": eta_star,
        "rate_star_theory": rate_star,
        "rate_star_measured": measured[i_star],
        "kappa": float(eig.max() / eig.min()),
    }
    return ctx.result(
        metrics,
        [
            Bar("max_rel_err_1_minus_rate", "<=", 0.05),
            Bar("frac_diverged_above", "==", 1),
            Bar("frac_converged_below", "==", 1),
        ],
        bar="measured 1−contraction within 5% of theory for every η < 2/λ_max; divergence for every η > 2/λ_max",
        config={"d": d, "n": n, "steps": steps_used, "spectrum": [1.0, 10.0]},
    )


@experiment(
    chapter="L",
    title="The normal equations give GD's limit",
    claim="closed-form w=(XᵀX)⁻¹Xᵀt (solved, never inverted) equals GD's limit",
)
def normal_equations(ctx: Context):
    """`deltalab run normal-equations` — ‖w_gd − w_cf‖/‖w_cf‖ < 1e-4 (float64, step η*). Quick: < 1 s."""
    g = torch.Generator().manual_seed(ctx.seed)
    n, d = 500, 30
    X, t, _ = regression(n, d, noise=0.2, generator=g)
    w_cf = th.normal_equations(X, t)
    eig = torch.linalg.eigvalsh(X.T @ X / n)
    eta, _ = th.optimal_step(eig)
    w = torch.zeros(d, dtype=torch.float64)
    errs = []
    for _ in range(ctx.pick(quick=400, full=2000)):
        w = w - eta * X.T @ (X @ w - t) / n
        errs.append(float((w - w_cf).norm() / w_cf.norm()))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(errs)
    ax.axhline(1e-4, color="k", ls=":")
    ax.set(xlabel="GD step", ylabel="‖w_gd − w_cf‖ / ‖w_cf‖", title="normal-equations")
    ctx.savefig(fig)
    lstsq_gap = float((th.least_squares(X, t) - w_cf).norm() / w_cf.norm())
    return ctx.result(
        {"rel_err_gd_vs_closed_form": errs[-1], "rel_err_lstsq_vs_solve": lstsq_gap},
        [Bar("rel_err_gd_vs_closed_form", "<", 1e-4)],
        bar="‖w_gd − w_cf‖/‖w_cf‖ < 1e-4",
        config={"n": n, "d": d, "eta": eta},
    )


@experiment(
    chapter="L",
    title="GD from zero finds the minimum-norm interpolant",
    claim="with d>n, GD from zero converges to the minimum-norm interpolant X⁺y",
)
def min_norm(ctx: Context):
    """`deltalab run min-norm` — relative error < 1e-5 against the SVD pseudo-inverse.

    GD's iterates stay in the row space of X when started at 0, so the limit is X⁺y; started
    elsewhere it keeps the null-space component (reported as a contrast). Quick: < 1 s.
    """
    g = torch.Generator().manual_seed(ctx.seed)
    n, d = 40, 200
    X, y, _ = regression(n, d, noise=0.1, generator=g)
    w_mn = th.min_norm(X, y)
    lr = 1.0 / float(torch.linalg.eigvalsh(X @ X.T).max())

    def gd(w: torch.Tensor, steps: int) -> tuple[torch.Tensor, list[float]]:
        errs = []
        for _ in range(steps):
            w = w - lr * X.T @ (X @ w - y)
            errs.append(float((w - w_mn).norm() / w_mn.norm()))
        return w, errs

    steps = ctx.pick(quick=1500, full=5000)
    w0, errs0 = gd(torch.zeros(d, dtype=torch.float64), steps)
    w1, errs1 = gd(torch.randn(d, generator=g, dtype=torch.float64), steps)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(errs0, label="from 0")
    ax.semilogy(errs1, label="from random init")
    ax.axhline(1e-5, color="k", ls=":")
    ax.set(xlabel="GD step", ylabel="‖w − X⁺y‖ / ‖X⁺y‖", title="min-norm")
    ax.legend()
    ctx.savefig(fig)
    metrics = {
        "rel_err_from_zero": errs0[-1],
        "rel_err_from_random": errs1[-1],
        "train_residual": float((X @ w0 - y).norm() / y.norm()),
        "norm_ratio_random_over_min": float(w1.norm() / w_mn.norm()),
    }
    return ctx.result(
        metrics,
        [Bar("rel_err_from_zero", "<", 1e-5)],
        bar="relative error < 1e-5 vs SVD pseudo-inverse",
        config={"n": n, "d": d, "steps": steps, "lr": lr},
    )


@experiment(
    chapter="L",
    title="Ridge regression is the MAP estimate under a Gaussian prior",
    claim="ridge with λ=σ²/σ_w² is the MAP estimate under a Gaussian prior; ridge = least squares on data "
    "augmented with √λ·I rows (zero targets)",
)
def ridge_is_map(ctx: Context):
    """`deltalab run ridge-is-map` — numerical MAP (L-BFGS on the negative log posterior, no ridge
    formula), the ridge solve and augmented least squares agree to 1e-6. Quick: < 1 s."""
    g = torch.Generator().manual_seed(ctx.seed)
    n, d, sigma, sigma_w = 60, 15, 0.8, 0.5
    X, t, _ = regression(n, d, noise=sigma, generator=g)
    lam = sigma**2 / sigma_w**2
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    lik = torch.distributions.Normal(0.0, sigma)
    prior = torch.distributions.Normal(torch.zeros(d, dtype=torch.float64), sigma_w)
    opt = torch.optim.LBFGS(
        [w], lr=1, max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16, line_search_fn="strong_wolfe"
    )
    trace: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        nlp = -(lik.log_prob(t - X @ w).sum() + prior.log_prob(w).sum())
        nlp.backward()
        trace.append(float(nlp.detach()))
        return nlp

    for _ in range(2):
        opt.step(closure)
    w_map = w.detach()
    w_ridge = th.ridge(X, t, lam)
    w_aug = th.ridge_augmented(X, t, lam)
    w_ls = th.least_squares(X, t)
    rel = lambda a, b: float((a - b).norm() / b.norm())
    metrics = {
        "rel_map_vs_ridge": rel(w_map, w_ridge),
        "rel_aug_vs_ridge": rel(w_aug, w_ridge),
        "rel_ls_vs_ridge": rel(w_ls, w_ridge),
        "lambda": lam,
    }
    metrics["max_disagreement"] = max(metrics["rel_map_vs_ridge"], metrics["rel_aug_vs_ridge"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(w_ridge, "o-", label="ridge solve")
    ax.plot(w_map, "x", ms=9, label="MAP (L-BFGS)")
    ax.plot(w_aug, "+", ms=12, label="augmented LS")
    ax.plot(w_ls, ".", color="gray", label="plain LS")
    ax.set(xlabel="weight index", ylabel="value", title=f"ridge-is-map (λ = σ²/σ_w² = {lam:g})")
    ax.legend()
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        [Bar("max_disagreement", "<=", 1e-6)],
        bar="MAP, ridge solve and augmented least squares agree to 1e-6 (relative)",
        config={"n": n, "d": d, "sigma": sigma, "sigma_w": sigma_w},
    )
