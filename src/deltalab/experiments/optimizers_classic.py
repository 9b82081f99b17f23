"""Chapter O, classic optimizers: momentum and Nesterov, adaptive gains, Rprop, RMSprop/Adam, schedules.

Every optimizer here is torch's own (SGD, Rprop, RMSprop, Adam) except delta-bar-delta
(:mod:`deltalab.optim.delta_bar_delta`). Grids run as one optimizer with one parameter group per
configuration, so that a whole sweep costs one loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.optim.delta_bar_delta import DeltaBarDelta

KAPPA = 1000.0
ETAS = [0.25, 0.5, 1.0, 1.5, 1.9, 1.99]  # × 1/L, the shared step-size grid


def diag_quadratic(dim: int, kappa: float, seed: int) -> tuple[Tensor, Tensor]:
    """Curvatures λ (dim,) log-spaced from L = 1 down to 1/κ, and a random start x₀ (dim,)."""
    lam = torch.logspace(0, -math.log10(kappa), dim)
    return lam, torch.randn(dim, generator=torch.Generator().manual_seed(seed))


def steps_to_target(
    opt: torch.optim.Optimizer,
    xs: Sequence[Tensor],
    lam: Tensor,
    cap: int,
    tol: float = 1e-6,
    rotation: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run ``opt`` on f(x) = ½Σλ(Qx)² for every x in ``xs`` (one per group); first step with f ≤ tol·f₀.

    rotation: Q (dim, dim), orthogonal; None is the identity (the axis-aligned problem).
    Returns (steps (n,), capped at cap + 1 when never reached; loss curves (n, steps run)).
    """
    q = torch.eye(len(lam)) if rotation is None else rotation

    def f_all() -> Tensor:
        return 0.5 * (lam * (torch.stack(list(xs)) @ q.T) ** 2).sum(1)  # (n,)

    with torch.no_grad():
        f0 = f_all()[0]
    hit = torch.full((len(xs),), cap + 1)
    curves = []
    # a hand-written loop: the trajectory of f under each optimizer's update is the measurement
    for t in range(1, cap + 1):
        opt.zero_grad()
        f_all().sum().backward()
        opt.step()
        with torch.no_grad():
            f = f_all()
            curves.append(f / f0)
            hit = torch.where((f <= tol * f0) & (hit > cap), t, hit)
            done = (hit <= cap) | ~torch.isfinite(f) | (f > 1e6 * f0)
            if t % 50 == 0 and bool(done.all()):
                break
    return hit, torch.stack(curves, 1)


def sgd_grid(
    x0: Tensor, configs: Sequence[tuple[float, float, bool]]
) -> tuple[torch.optim.Optimizer, list[Tensor]]:
    """One torch SGD with a group (lr, momentum, nesterov) per configuration, each on its own copy of x₀."""
    xs = [nn.Parameter(x0.clone()) for _ in configs]
    groups = [{"params": [x], "lr": lr, "momentum": b, "nesterov": n} for x, (lr, b, n) in zip(xs, configs)]
    return torch.optim.SGD(groups, lr=ETAS[0]), xs


@experiment(
    chapter="O",
    title="Momentum needs ~√κ fewer steps than GD; Nesterov's look-ahead beats heavy ball",
    claim="on an ill-conditioned quadratic, heavy-ball momentum needs ~√κ fewer steps than GD; at a shared "
    "step size 1/L and β, Nesterov's look-ahead needs fewer steps than heavy ball",
)
def momentum_nesterov(ctx: Context) -> Any:
    """`deltalab run momentum-nesterov` — claim momentum-nesterov. Expected: at κ = 1000, the best
    (η, β) of torch's heavy-ball SGD needs ≥ 5× fewer steps to f ≤ 1e-6·f₀ than the best η of plain
    GD (measured 1335 / 128 ≈ 10×, theory ≈ √κ/3); at η = 1/L, β = (√κ−1)/(√κ+1) Nesterov needs
    fewer steps than heavy ball (measured 136 vs 202). Quick profile: ~5 s."""
    lam, x0 = diag_quadratic(ctx.pick(quick=50, full=200), KAPPA, ctx.seed)
    cap = 3000
    betas = ctx.pick(quick=[0.8, 0.9, 0.95, 0.98], full=[0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99])
    gd_steps, gd_curves = steps_to_target(*sgd_grid(x0, [(e, 0.0, False) for e in ETAS]), lam, cap)
    hb_cfg = [(e, b, False) for e in ETAS for b in betas]
    hb_steps, hb_curves = steps_to_target(*sgd_grid(x0, hb_cfg), lam, cap)
    beta = (math.sqrt(KAPPA) - 1) / (math.sqrt(KAPPA) + 1)
    pair, pair_curves = steps_to_target(*sgd_grid(x0, [(1.0, beta, False), (1.0, beta, True)]), lam, cap)
    i_gd, i_hb = int(gd_steps.argmin()), int(hb_steps.argmin())
    fig, ax = plt.subplots(figsize=(6, 4))
    for curve, label in [
        (gd_curves[i_gd], f"GD η={ETAS[i_gd]}/L"),
        (hb_curves[i_hb], f"heavy ball η={hb_cfg[i_hb][0]}/L β={hb_cfg[i_hb][1]}"),
        (pair_curves[0], f"heavy ball η=1/L β={beta:.3f}"),
        (pair_curves[1], f"Nesterov η=1/L β={beta:.3f}"),
    ]:
        ax.semilogy(curve.clamp(min=1e-12, max=1e3).numpy(), label=label)
    ax.axhline(1e-6, color="gray", ls=":")
    ax.set(
        xlabel="step", ylabel="f / f₀", title=f"quadratic, κ = {KAPPA:g}", xlim=(0, int(gd_steps.min()) + 50)
    )
    ax.legend(fontsize=7)
    ctx.savefig(fig)
    metrics = {
        "steps_gd_tuned": int(gd_steps.min()),
        "steps_momentum_tuned": int(hb_steps.min()),
        "speedup_momentum_over_gd": gd_steps.min().item() / hb_steps.min().item(),
        "steps_heavy_ball_1_over_L": int(pair[0]),
        "steps_nesterov_1_over_L": int(pair[1]),
        "nesterov_minus_heavy_ball_steps": int(pair[1] - pair[0]),
        "sqrt_kappa": math.sqrt(KAPPA),
    }
    bars = [Bar("speedup_momentum_over_gd", ">=", 5.0), Bar("nesterov_minus_heavy_ball_steps", "<", 0)]
    return ctx.result(
        metrics,
        bars,
        bar="steps to f <= 1e-6 f0 at kappa=1000: tuned momentum >= 5x fewer than tuned GD; at eta=1/L and "
        "equal beta, Nesterov < heavy ball",
        config={
            "kappa": KAPPA,
            "dim": len(lam),
            "eta_grid_times_1_over_L": ETAS,
            "beta_grid": betas,
            "cap": cap,
            "tol": 1e-6,
            "shared_beta": beta,
        },
    )


@experiment(
    chapter="O",
    title="Per-weight adaptive gains beat one global rate on an axis-aligned problem",
    claim="per-weight gains, raised additively while the gradient keeps its sign and cut multiplicatively "
    "when it flips, beat one global rate",
)
def adaptive_gains(ctx: Context) -> Any:
    """`deltalab run adaptive-gains` — claim adaptive-gains. Expected: on the axis-aligned quadratic
    with κ = 1000, delta-bar-delta (+0.05 / ×0.95, gains in [0.1, 10]) at its best global rate
    reaches f ≤ 1e-6·f₀ in fewer steps than GD at its best rate from the same grid (measured 214 vs
    1335, 6.2×); the same spectrum in a random orthonormal basis is reported (no bar): there the
    per-axis gains keep only part of their edge (measured 935 vs 1335). Quick profile: ~7 s."""
    lam, x0 = diag_quadratic(ctx.pick(quick=50, full=200), KAPPA, ctx.seed)
    cap = 3000
    gd_steps, gd_curves = steps_to_target(*sgd_grid(x0, [(e, 0.0, False) for e in ETAS]), lam, cap)
    xs = [nn.Parameter(x0.clone()) for _ in ETAS]
    dbd = DeltaBarDelta([{"params": [x], "lr": e} for x, e in zip(xs, ETAS)])
    dbd_steps, dbd_curves = steps_to_target(dbd, xs, lam, cap)
    # the same spectrum in a random orthonormal basis: per-axis gains no longer match the eigenbasis
    q, _ = torch.linalg.qr(
        torch.randn(len(lam), len(lam), generator=torch.Generator().manual_seed(ctx.seed + 1))
    )
    x0_rot = q.T @ x0  # same f₀
    rot_gd, _ = steps_to_target(*sgd_grid(x0_rot, [(e, 0.0, False) for e in ETAS]), lam, cap, rotation=q)
    xs = [nn.Parameter(x0_rot.clone()) for _ in ETAS]
    dbd = DeltaBarDelta([{"params": [x], "lr": e} for x, e in zip(xs, ETAS)])
    rot_dbd, _ = steps_to_target(dbd, xs, lam, cap, rotation=q)
    rot_steps = [int(rot_gd.min()), int(rot_dbd.min())]
    i_gd, i_dbd = int(gd_steps.argmin()), int(dbd_steps.argmin())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(gd_curves[i_gd].clamp(min=1e-12).numpy(), label=f"GD, best η={ETAS[i_gd]}/L")
    ax.semilogy(dbd_curves[i_dbd].clamp(min=1e-12).numpy(), label=f"delta-bar-delta, best η={ETAS[i_dbd]}/L")
    ax.axhline(1e-6, color="gray", ls=":")
    ax.set(xlabel="step", ylabel="f / f₀", title=f"axis-aligned quadratic, κ = {KAPPA:g}")
    ax.legend()
    ctx.savefig(fig)
    metrics = {
        "steps_gd_tuned": int(gd_steps.min()),
        "steps_delta_bar_delta_tuned": int(dbd_steps.min()),
        "speedup_gains_over_gd": gd_steps.min().item() / dbd_steps.min().item(),
        "rotated_steps_gd_tuned": rot_steps[0],
        "rotated_steps_delta_bar_delta_tuned": rot_steps[1],
    }
    return ctx.result(
        metrics,
        [Bar("speedup_gains_over_gd", ">", 1.0)],
        bar="delta-bar-delta reaches f <= 1e-6 f0 in fewer steps than tuned GD (axis-aligned, kappa=1000)",
        config={
            "kappa": KAPPA,
            "dim": len(lam),
            "eta_grid_times_1_over_L": ETAS,
            "cap": cap,
            "increase": 0.05,
            "decrease": 0.95,
            "gain_range": [0.1, 10.0],
        },
    )
