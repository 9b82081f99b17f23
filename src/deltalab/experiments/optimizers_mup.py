"""Chapter O, parametrization: μP coordinate check, μP learning-rate transfer, unit scaling.

Uses :mod:`deltalab.nn.mup` / :mod:`deltalab.optim.mup` (μP) and :mod:`deltalab.nn.unit_scaling`;
Adam and SGD are torch's. SP below is the standard parametrization: the same MLP with a plain
``nn.Linear`` readout and one learning rate for every parameter.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deltalab.data import load_digits, load_mnist1d
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.nn.mup import MupMLP
from deltalab.nn.unit_scaling import UnitScaledLinear, UnitScaledReLU, unit_scaled_cross_entropy
from deltalab.optim.mup import base_shapes, mup_param_groups

BASE_WIDTH = 64
LAYERS = {"input": 2, "hidden": 4, "readout": 5}  # MupMLP(depth=2) indices whose outputs we watch


def mup_adam(model: nn.Module, lr: float, mup: bool) -> torch.optim.Optimizer:
    """torch Adam with μP's per-layer rates (base width 64) or SP's single rate."""
    if not mup:
        return torch.optim.Adam(model.parameters(), lr=lr)
    base = base_shapes(MupMLP(40, BASE_WIDTH, 10, depth=2, base_width=BASE_WIDTH))
    return torch.optim.Adam(mup_param_groups(model, base, lr, rule="adam"), lr=lr)


def layer_outputs(model: nn.Sequential, x: Tensor) -> list[Tensor]:
    """The outputs of the watched layers (input-layer ReLU, hidden ReLU, logits) for a batch x."""
    out, h = [], x
    for i, layer in enumerate(model):
        h = layer(h)
        if i in LAYERS.values():
            out.append(h.detach())
    return out


def coord_changes(width: int, mup: bool, x: Tensor, y: Tensor, lr: float, steps: int, seed: int) -> Tensor:
    """Mean |h_t − h_0| of each watched layer after steps 1..steps of full-batch Adam: (steps, layers)."""
    torch.manual_seed(seed)
    model = MupMLP(40, width, 10, depth=2, base_width=BASE_WIDTH, mup=mup)
    opt = mup_adam(model, lr, mup)
    h0 = layer_outputs(model, x)
    rows = []
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        rows.append([(h - g).abs().mean().item() for h, g in zip(layer_outputs(model, x), h0)])
    return torch.tensor(rows)


@experiment(
    chapter="O",
    title="μP coordinate check: activation updates stay Θ(1) as width grows; SP's grow",
    claim="under μP the size of each layer's activation change after a step stays Θ(1) as width grows; "
    "under standard parametrization it grows",
)
def mup_coord_check(ctx: Context) -> Any:
    """`deltalab run mup-coord-check` — claim mup-coord-check. Expected: an mnist1d MLP (input,
    one hidden matrix, readout) at widths 64…2048, Adam lr 1e-2, batch 256, mean over 3 seeds:
    mean |Δh| of every layer after steps 1, 2, 3 has widest/narrowest ratio within (1/1.2, 1.2)
    under μP (measured 0.89–1.12) and, under SP, some layer's ratio > 1.5 at every step (measured
    the readout's 35–139×, the hidden layer's 3–23×). Quick profile: ~6 s."""
    widths = ctx.pick(quick=[64, 256, 1024, 2048], full=[64, 128, 256, 512, 1024, 2048, 4096])
    seeds, steps, lr = ctx.pick(quick=3, full=5), 3, 1e-2
    d = load_mnist1d()
    x, y = d.x_train[:256], d.y_train[:256]
    changes = {}
    for mup in (True, False):
        for w in widths:
            runs = [coord_changes(w, mup, x, y, lr, steps, ctx.seed + s) for s in range(seeds)]
            changes[mup, w] = torch.stack(runs).mean(0)  # (steps, layers)
    ratio = {mup: changes[mup, widths[-1]] / changes[mup, widths[0]] for mup in (True, False)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, mup in zip(axes, (True, False)):
        for j, name in enumerate(LAYERS):
            for t in range(steps):
                ax.loglog(
                    widths,
                    [changes[mup, w][t, j].item() for w in widths],
                    "o-",
                    color=f"C{j}",
                    alpha=0.4 + 0.3 * t,
                    label=f"{name}" if t == steps - 1 else None,
                )
        ax.set(xlabel="width", title=("μP" if mup else "SP") + " (steps 1–3, darker = later)")
    axes[0].set_ylabel("mean |h_t − h_0|")
    axes[0].legend()
    ctx.savefig(fig)
    metrics: dict[str, float] = {}
    for mup, tag in ((True, "mup"), (False, "sp")):
        for j, name in enumerate(LAYERS):
            for t in range(steps):
                metrics[f"{tag}_ratio_{name}_step{t + 1}"] = ratio[mup][t, j].item()
    worst_mup = ratio[True].log().abs().max().exp().item()  # max over layers, steps of max(r, 1/r)
    metrics["mup_worst_ratio"] = worst_mup
    metrics["sp_min_over_steps_of_max_layer_ratio"] = ratio[False].max(1).values.min().item()
    bars = [Bar("mup_worst_ratio", "<", 1.2), Bar("sp_min_over_steps_of_max_layer_ratio", ">", 1.5)]
    return ctx.result(
        metrics,
        bars,
        bar=f"widest/narrowest ({widths[-1]}/{widths[0]}) mean |activation change| of every layer at steps 1-3 "
        "within (1/1.2, 1.2) under muP; > 1.5 under SP",
        config={
            "widths": widths,
            "seeds": seeds,
            "lr": lr,
            "optimizer": "Adam",
            "batch": 256,
            "base_width": BASE_WIDTH,
        },
    )


def tensors_at_init(unit: bool, width: int, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
    """Weights, activations, activation gradients and weight gradients of a 3-layer digits MLP, one batch."""
    torch.manual_seed(seed)
    make = UnitScaledLinear if unit else nn.Linear
    layers = [make(x.size(1), width), make(width, width), make(width, 10)]
    act = UnitScaledReLU() if unit else nn.ReLU()
    h, acts = x, []
    for i, layer in enumerate(layers):
        h = layer(h)
        h.retain_grad()
        acts.append(h)
        if i < len(layers) - 1:
            h = act(h)
    loss = unit_scaled_cross_entropy(h, y) if unit else F.cross_entropy(h, y)
    loss.backward()
    out: dict[str, Tensor] = {}
    for i, (layer, a) in enumerate(zip(layers, acts)):
        out[f"weight{i}"] = layer.weight.detach()
        out[f"act{i}"] = a.detach()
        out[f"grad_act{i}"] = a.grad
        out[f"grad_weight{i}"] = layer.weight.grad
    return out


def fp8_loss_fraction(t: Tensor) -> float:
    """Fraction of t's non-zero entries that overflow (|t| > 448) or flush to zero in float8_e4m3fn."""
    nz = t[t != 0]
    if nz.numel() == 0:
        return 0.0
    over = nz.abs() > torch.finfo(torch.float8_e4m3fn).max
    under = nz.to(torch.float8_e4m3fn).float() == 0  # cast round trip only: no fp8 arithmetic
    return (over | under).float().mean().item()


@experiment(
    chapter="O",
    expected="fail",
    reason="the largest weight-gradient RMS is 2.61/2.92/2.83 at seeds 0/1/2 (bar <= 2): at init per-sample "
    "gradients are correlated, so the 1/sqrt(B) backward scale under-corrects; every other tensor is in "
    "[0.88, 1.03] and fp8 loses ~0.1% vs ~40% for SP",
    title="Unit scaling keeps every tensor's RMS near 1, so fp8 neither overflows nor underflows",
    claim="N(0,1) weights with a 1/√fan_in multiplier in the forward keep every tensor's RMS near 1, so narrow "
    "formats neither overflow nor underflow",
)
def unit_scaling(ctx: Context) -> Any:
    """`deltalab run unit-scaling` — claim unit-scaling. Expected: a 64-W-W-10 digits MLP at W = 1024
    (inputs standardized), one batch of 256 at init: with unit scaling (N(0,1) weights, 1/√fan_in
    forward, 1/√fan_out and 1/√B backward, √2·ReLU, loss gradient × B√C) the RMS of every weight,
    activation, activation gradient and weight gradient is in [0.5, 2] (measured 0.88–1.03 at seeds
    0/1/2, except the weight gradients at 2.2–2.9: an expected failure, see ``reason``); rounding each through
    fp8-e4m3 (cast round trip) loses ≤ 1% of the non-zero entries on average (measured ~0.1%),
    against ≥ 10% for the standard parametrization (measured ~40%: its gradients are ~1e-4 and
    flush to zero). Quick profile: ~3 s."""
    width = ctx.pick(quick=1024, full=4096)
    d = load_digits()
    mean, std = d.x_train.mean(0), d.x_train.std(0).clamp(min=1e-3)
    idx = torch.randperm(len(d.x_train), generator=torch.Generator().manual_seed(ctx.seed))[:256]
    x, y = (d.x_train[idx] - mean) / std, d.y_train[idx]
    x = x * (x.pow(2).mean().rsqrt())  # the constant border pixels are 0: rescale to RMS 1
    unit = tensors_at_init(True, width, x, y, ctx.seed)
    sp = tensors_at_init(False, width, x, y, ctx.seed)
    rms = {k: t.pow(2).mean().sqrt().item() for k, t in unit.items()}
    rms_sp = {k: t.pow(2).mean().sqrt().item() for k, t in sp.items()}
    lost = {k: fp8_loss_fraction(t) for k, t in unit.items()}
    lost_sp = {k: fp8_loss_fraction(t) for k, t in sp.items()}
    fig, ax = plt.subplots(figsize=(9, 3.5))
    names = list(rms)
    ax.semilogy(names, [rms[k] for k in names], "o", label="unit scaling")
    ax.semilogy(names, [rms_sp[k] for k in names], "s", label="standard")
    ax.axhspan(0.5, 2.0, color="green", alpha=0.1)
    ax.axhspan(2.0**-9, 448, color="gray", alpha=0.05, label="fp8-e4m3 range")
    ax.set(ylabel="RMS", title=f"digits MLP, width {width}, at init")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(fontsize=7)
    ctx.savefig(fig)
    metrics = {f"rms_{k}": v for k, v in rms.items()}
    metrics |= {
        "rms_min_unit": min(rms.values()),
        "rms_max_unit": max(rms.values()),
        "fp8_lost_fraction_unit": sum(lost.values()) / len(lost),
        "fp8_lost_fraction_standard": sum(lost_sp.values()) / len(lost_sp),
        "rms_min_standard": min(rms_sp.values()),
    }
    bars = [
        Bar("rms_min_unit", ">=", 0.5),
        Bar("rms_max_unit", "<=", 2.0),
        Bar("fp8_lost_fraction_unit", "<=", 0.01),
        Bar("fp8_lost_fraction_standard", ">=", 0.10),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="every weight/activation/gradient RMS in [0.5, 2] with unit scaling; fp8-e4m3 round trip loses <= 1% "
        "of non-zero entries (mean over tensors) vs >= 10% for the standard parametrization",
        config={"width": width, "batch": 256, "format": "float8_e4m3fn (cast round trip)", "tensors": names},
    )


def final_loss(width: int, lr: float, mup: bool, x: Tensor, y: Tensor, steps: int, seed: int) -> float:
    """Full train-set loss after ``steps`` Adam steps (batch 64) of the mnist1d MLP; inf if it diverged."""
    torch.manual_seed(seed)
    model = MupMLP(40, width, 10, depth=2, base_width=BASE_WIDTH, mup=mup)
    opt = mup_adam(model, lr, mup)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        loss = F.cross_entropy(model(x), y).item()
    return loss if math.isfinite(loss) else math.inf


def parabola_argmin(log2_lrs: list[float], losses: list[float]) -> float:
    """log₂ LR at the vertex of the parabola through the grid minimum and its two neighbours."""
    i = min(range(len(losses)), key=losses.__getitem__)
    i = min(max(i, 1), len(losses) - 2)
    xs, ys = log2_lrs[i - 1 : i + 2], [min(v, 10.0) for v in losses[i - 1 : i + 2]]
    a, b, _ = torch.linalg.lstsq(
        torch.tensor([[u * u, u, 1.0] for u in xs], dtype=torch.float64),
        torch.tensor(ys, dtype=torch.float64),
    ).solution.tolist()
    return -b / (2 * a) if a > 0 else xs[1]


@experiment(
    chapter="O",
    expected="fail",
    reason="at seeds 0/1/2 muP's best-LR drift is 1.11/2.43/2.20x (bar <= 2) and SP's 3.03/17.5/3.69x "
    "(bar >= 4): 100 steps cannot rank rates and the 2^-10..2^-6 grid does not bracket every width's "
    "optimum, which CLAIMS.md now requires (being rebuilt in its own issue)",
    title="μP: the best learning rate at width 64 is the best at width 1024",
    claim="under μP the best learning rate at width 64 is the best at width 1024",
)
def mup_lr_transfer(ctx: Context) -> Any:
    """`deltalab run mup-lr-transfer` — claim mup-lr-transfer. Expected: Adam on an mnist1d MLP (input,
    one hidden matrix, μP or plain readout), 100 steps of batch 64, LR grid 2⁻¹⁰…2⁻⁶; the best
    log₂ LR per width from a parabola through the grid minimum and its neighbours. μP: drift
    between widths ≤ 2×; SP: ≥ 4×. Measured at seeds 0/1/2: μP 1.11/2.43/2.20×, SP
    3.03/17.5/3.69× — an expected failure: at 100 steps one seed's noise moves the parabola's
    vertex more than μP's effect, and the grid does not bracket the optimum at every width (its
    edge 2⁻⁶ is the best rate at width 64 for seed 1), as CLAIMS.md's bar now requires.
    Quick profile: ~20 s single-thread CPU (3 widths), full: 5 widths."""
    widths = ctx.pick(quick=[64, 256, 1024], full=[64, 128, 256, 512, 1024])
    steps = ctx.pick(quick=100, full=400)
    log2_lrs = [float(k) for k in range(-10, -5)]
    d = load_mnist1d()
    best: dict[tuple[bool, int], float] = {}
    curves: dict[str, list[float]] = {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, mup in zip(axes, (True, False)):
        for w in widths:
            losses = [final_loss(w, 2.0**k, mup, d.x_train, d.y_train, steps, ctx.seed) for k in log2_lrs]
            best[mup, w] = parabola_argmin(log2_lrs, losses)
            curves[f"{'mup' if mup else 'sp'}_{w}"] = [min(v, 10.0) for v in losses]
            ax.plot(log2_lrs, [min(v, 3.0) for v in losses], "o-", label=f"width {w}")
            ax.axvline(best[mup, w], color=ax.lines[-1].get_color(), ls=":")
        ax.set(xlabel="log₂ learning rate", title="μP" if mup else "SP")
        ax.legend()
    axes[0].set_ylabel("train loss after training")
    ctx.savefig(fig)
    ctx.series("losses", curves)
    metrics: dict[str, float] = {}
    for mup, tag in ((True, "mup"), (False, "sp")):
        for w in widths:
            metrics[f"{tag}_best_log2_lr_w{w}"] = best[mup, w]
        values = [best[mup, w] for w in widths]
        metrics[f"{tag}_lr_drift"] = 2.0 ** (max(values) - min(values))
    bars = [Bar("mup_lr_drift", "<=", 2.0), Bar("sp_lr_drift", ">=", 4.0)]
    return ctx.result(
        metrics,
        bars,
        bar=f"best LR (parabola in log2 LR) across widths {widths}: drift <= 2x under muP, >= 4x under SP",
        config={
            "widths": widths,
            "steps": steps,
            "batch": 64,
            "log2_lr_grid": log2_lrs,
            "optimizer": "Adam",
            "base_width": BASE_WIDTH,
        },
    )
