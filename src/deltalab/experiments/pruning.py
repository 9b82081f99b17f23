"""Chapter Z: magnitude pruning (one-shot vs iterative) and lottery tickets, on small MLPs.

Both claims train many small nets, so they use a short visible Adam loop (:func:`fit_steps`)
rather than the Trainer: on these ~80k-parameter MLPs the loop is overhead-bound (PITFALLS.md)
and fused Adam halves the step. Pruning itself is ``deltalab.prune`` (on torch.nn.utils.prune).
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data import load_digits, load_mnist1d
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.prune.lottery import iterative_magnitude_pruning, random_reinit_, rewind_, snapshot
from deltalab.prune.magnitude import (
    apply_masks,
    ensure_pruned,
    masks,
    prune_global,
    prune_layerwise,
    remaining_fraction,
)


def mlp(in_features: int, hidden: int, depth: int, seed: int) -> nn.Module:
    """``depth`` ReLU hidden layers of width ``hidden``, seeded init."""
    torch.manual_seed(seed)
    widths = [in_features] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], 10))


def fit_steps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, batch_size: int, seed: int
) -> nn.Module:
    """``steps`` Adam steps on minibatches drawn with replacement (seeded); fresh optimizer."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=x.device.type == "cpu")
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=g).to(x.device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def test_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy in eval mode (mode restored)."""
    was = model.training
    model.eval()
    acc = (model(x).argmax(-1) == y).float().mean().item()
    model.train(was)
    return acc


@experiment(
    chapter="Z",
    title="Iterative magnitude pruning beats one-shot at equal retraining budget",
    claim="one-shot magnitude pruning vs iterative magnitude pruning with retraining, at an equal "
    "total retraining budget",
    expected="fail",
    reason="at equal retraining steps one-shot + retraining recovers as well as IMP at 90% sparsity "
    "(digits 97.8% vs IMP 97.6%; also on mnist1d and a 64-wide MLP)",
)
def pruning(ctx: Context):
    """`deltalab run pruning` — claim pruning. A digits MLP (64-256-256-10) is trained dense, then
    pruned to 90% sparsity (global magnitude) either at once with R retraining steps, or in k
    rounds of equal geometric rate with R/k retraining steps each. Expected: IMP within 2 points of
    dense, one-shot below IMP. Measured: IMP is within 2 points of dense (97.6% vs 97.1%) but
    one-shot is not lower (97.8%): an honest expected failure (mnist1d 256-wide: dense 58.9, IMP
    59.5, one-shot 60.0; digits 64-wide: dense 95.1, IMP 93.3, one-shot 96.0). Quick profile: ~10 s."""
    d = load_digits().to(ctx.device)
    hidden, steps, retrain, rounds = 256, ctx.pick(600, 1500), ctx.pick(600, 1500), ctx.pick(4, 6)
    lr, bs, sparsity = 1e-3, 64, 0.9
    per_round = 1 - (1 - sparsity) ** (1 / rounds)
    dense = fit_steps(mlp(64, hidden, 2, ctx.seed), d.x_train, d.y_train, steps, lr, bs, ctx.seed)
    acc_dense = test_accuracy(dense, d.x_test, d.y_test)
    init_state = {k: v.clone() for k, v in dense.state_dict().items()}

    one = mlp(64, hidden, 2, ctx.seed)
    one.load_state_dict(init_state)
    prune_global(one, sparsity)
    acc_one_before = test_accuracy(one, d.x_test, d.y_test)
    fit_steps(one, d.x_train, d.y_train, retrain, lr, bs, ctx.seed + 1)
    acc_one = test_accuracy(one, d.x_test, d.y_test)
    ctx.log(f"dense {acc_dense:.3f}; one-shot {acc_one_before:.3f} -> {acc_one:.3f}")

    imp = mlp(64, hidden, 2, ctx.seed)
    imp.load_state_dict(init_state)
    curve = [(1.0, acc_dense)]
    for r in range(rounds):
        prune_global(imp, per_round)  # torch applies the rate to the remaining weights
        fit_steps(imp, d.x_train, d.y_train, retrain // rounds, lr, bs, ctx.seed + 2 + r)
        curve.append((remaining_fraction(imp), test_accuracy(imp, d.x_test, d.y_test)))
    acc_imp, rem_imp = curve[-1][1], curve[-1][0]
    ctx.log(f"IMP {acc_imp:.3f} at {rem_imp:.3f} remaining")
    ctx.series("imp_remaining_vs_acc", [list(p) for p in curve])

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([100 * c[0] for c in curve], [100 * c[1] for c in curve], "o-", label=f"IMP ({rounds} rounds)")
    ax.plot([100 * (1 - sparsity)], [100 * acc_one], "s", ms=9, label="one-shot + retrain")
    ax.plot([100 * (1 - sparsity)], [100 * acc_one_before], "x", ms=9, label="one-shot, no retrain")
    ax.axhline(100 * acc_dense, color="gray", ls="--", label="dense")
    ax.set(xscale="log", xlabel="% weights remaining", ylabel="test accuracy (%)", title="digits MLP")
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {
        "acc_dense": acc_dense,
        "acc_imp": acc_imp,
        "acc_oneshot": acc_one,
        "acc_oneshot_no_retrain": acc_one_before,
        "remaining_imp": rem_imp,
        "remaining_oneshot": remaining_fraction(one),
        "imp_minus_dense": acc_imp - acc_dense,
        "imp_minus_oneshot": acc_imp - acc_one,
    }
    bars = [Bar("imp_minus_dense", ">=", -0.02), Bar("imp_minus_oneshot", ">", 0.0)]
    return ctx.result(
        metrics,
        bars,
        bar="at 90% sparsity IMP within 2 points of dense; one-shot (same total retraining steps) lower",
        config={
            "hidden": [hidden, hidden],
            "dense_steps": steps,
            "retrain_steps": retrain,
            "rounds": rounds,
            "per_round_rate": per_round,
            "lr": lr,
            "batch_size": bs,
            "pruning": "global magnitude",
        },
    )


def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs)


@experiment(
    chapter="Z",
    title="Lottery tickets: IMP with rewinding finds a sparse net that trains to dense accuracy",
    claim="IMP with rewinding finds a subnetwork (≤ 20% of weights) that trains to dense accuracy from "
    "its original init; random re-init of the same mask does worse; rewinding to an early iterate "
    "(late resetting) helps deeper nets",
)
def lottery_ticket(ctx: Context):
    """`deltalab run lottery-ticket` — claim lottery-ticket. An mnist1d MLP (40-256-256-10) is
    trained, pruned layer-wise (rate p of the hidden layers' remaining weights per round, p/2 of
    the output layer's) and rewound to its init, until ≤ 20% of the weights remain; the ticket (init
    + mask) is trained once more. Controls: the same mask with a random re-init, and a one-shot
    ticket (the dense net pruned to the final per-layer sparsity at once, rewound). Means over 3
    seeds. Expected: ticket ≥ dense − 1 point (measured −0.2 quick; −0.1 full without the one-shot
    control) and ≥ random re-init + 3 points (measured +10 quick). Quick: p = 34%, 4 rounds
    (19.9% left), 300 Adam steps (lr 3e-3) per training; full: the paper's 20%/10%, 8 rounds
    (17.6% left), 600 steps (lr 2e-3). Late resetting is not measured here.
    Quick profile: ~27 s single-thread CPU."""
    d = load_mnist1d().to(ctx.device)
    hidden, bs = 256, 256
    steps, lr, rate, rounds = ctx.pick((300, 3e-3, 0.34, 4), (600, 2e-3, 0.2, 8))
    output_rate = rate / 2
    seeds = [ctx.seed + k for k in range(3)]
    dense, ticket, rand, one, rem, curves = [], [], [], [], [], []
    for s in seeds:
        trained_dense: list[dict[str, torch.Tensor]] = []

        def train(m: nn.Module, s: int = s, keep: list = trained_dense) -> float:
            fit_steps(m, d.x_train, d.y_train, steps, lr, bs, s)
            if not keep:  # round 0 trains the dense net: keep it for the one-shot control
                keep.append(snapshot(m))
            return test_accuracy(m, d.x_test, d.y_test)

        net = mlp(40, hidden, 2, s)
        init = snapshot(net)
        hist = iterative_magnitude_pruning(net, train, rounds, rate, output_rate)
        curves.append([[h.remaining, h.score] for h in hist])
        dense.append(hist[0].score)
        ticket.append(hist[-1].score)
        rem.append(hist[-1].remaining)
        final = hist[-1].masks

        control = apply_masks(mlp(40, hidden, 2, s), final)
        random_reinit_(control, torch.Generator().manual_seed(10_000 + s))
        rand.append(train(control))

        # One-shot ticket: the trained dense net pruned to each layer's final sparsity at once,
        # its mask put on the original init.
        shot = rewind_(ensure_pruned(mlp(40, hidden, 2, s)), trained_dense[0])
        prune_layerwise(shot, [1 - final[n].mean().item() for n in final])
        one.append(train(rewind_(apply_masks(mlp(40, hidden, 2, s), masks(shot)), init)))
        ctx.log(
            f"seed {s}: dense {dense[-1]:.3f} ticket {ticket[-1]:.3f} ({rem[-1]:.3f}) "
            f"random {rand[-1]:.3f} one-shot {one[-1]:.3f}"
        )
    ctx.series("imp_curves", curves)

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    mean_curve = [[_mean([c[i][j] for c in curves]) for j in (0, 1)] for i in range(len(curves[0]))]
    ax.plot(
        [100 * p[0] for p in mean_curve],
        [100 * p[1] for p in mean_curve],
        "o-",
        label="IMP ticket (rewind to init)",
    )
    ax.plot([100 * _mean(rem)], [100 * _mean(rand)], "s", ms=9, label="same mask, random re-init")
    ax.plot([100 * _mean(rem)], [100 * _mean(one)], "^", ms=9, label="one-shot ticket")
    ax.axhline(100 * _mean(dense), color="gray", ls="--", label="dense")
    ax.set(
        xscale="log",
        xlabel="% weights remaining",
        ylabel="test accuracy (%, mean of 3 seeds)",
        title="mnist1d MLP 40-256-256-10",
    )
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {
        "acc_dense": _mean(dense),
        "acc_ticket": _mean(ticket),
        "acc_random_reinit": _mean(rand),
        "acc_oneshot_ticket": _mean(one),
        "remaining_ticket": _mean(rem),
        "ticket_minus_dense": _mean(ticket) - _mean(dense),
        "ticket_minus_random": _mean(ticket) - _mean(rand),
        "ticket_minus_dense_spread": max(t - dd for t, dd in zip(ticket, dense))
        - min(t - dd for t, dd in zip(ticket, dense)),
    }
    bars = [
        Bar("remaining_ticket", "<=", 0.2),
        Bar("ticket_minus_dense", ">=", -0.01),
        Bar("ticket_minus_random", ">=", 0.03),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="means over 3 seeds: ticket (≤ 20% weights) ≥ dense − 1 point; ticket ≥ random re-init + 3 points",
        config={
            "hidden": [hidden, hidden],
            "steps_per_training": steps,
            "lr": lr,
            "batch_size": bs,
            "rate": rate,
            "output_rate": output_rate,
            "rounds": rounds,
            "seeds": seeds,
        },
    )
