"""Chapter T, generalization: early stopping, L1 vs L2 vs weight elimination, dropout, noise.

Small digits subsets make a wide MLP overfit within seconds; every accuracy is measured in eval
mode. Early stopping uses 30% random labels (so that the validation loss really turns up); dropout
and noise injection use clean labels, as their CLAIMS.md rows ask. The Trainer runs the training (its early stopping and best-state restore are the ones under
test); L1's proximal step needs a step after each optimizer step, so l1-vs-l2 keeps a short loop.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data import load_digits
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.mlp import MLP
from deltalab.train import TrainConfig, Trainer
from deltalab.train.regularize import exact_zero_fraction, l1_prox_, penalized_weights, weight_elimination
from deltalab.train.steps import fit_steps


def noisy_subset(n_train: int, noise: float, seed: int):
    """digits: ``n_train`` training examples with a fraction ``noise`` of labels replaced at random."""
    d = load_digits().subset(n_train, seed)
    g = torch.Generator().manual_seed(seed + 1)
    flip = torch.rand(len(d.y_train), generator=g) < noise
    y = d.y_train.clone()
    y[flip] = torch.randint(0, 10, (int(flip.sum()),), generator=g)
    d.y_train = y
    return d


def eval_acc(trainer: Trainer, x: torch.Tensor, y: torch.Tensor) -> float:
    return trainer.evaluate((x, y), prefix="")["acc"]


def _fit_penalized(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    ws: list[torch.Tensor],
    train: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    batch_size: int,
    seed: int,
    *,
    we: tuple[float, float] | None = None,
    l1_threshold: float | None = None,
) -> None:
    """Minibatch steps on cross-entropy, + λ·weight elimination(ws, w₀) when ``we = (λ, w₀)``; with
    ``l1_threshold``, L1 as a proximal soft-threshold of ``ws`` after each update (not a loss term)."""
    x, y = train
    g = torch.Generator().manual_seed(seed)

    def loss_fn() -> torch.Tensor:
        idx = torch.randint(0, len(x), (batch_size,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        return loss + we[0] * weight_elimination(ws, we[1]) if we is not None else loss

    def prox(step: int, loss: torch.Tensor) -> None:
        l1_prox_(ws, l1_threshold)

    fit_steps(loss_fn, opt, steps, after_step=prox if l1_threshold is not None else None)


@experiment(
    chapter="T",
    title="Early stopping: stop at the validation minimum",
    claim="validation loss bottoms out then rises; stopping at its minimum beats training to the end",
)
def early_stopping(ctx: Context):
    """`deltalab run early-stopping` — claim early-stopping. 400 digits with 30% random labels, an
    MLP 64-512-512-10 trained with Adam; validation (20%) carved from train. One run trains to the
    end; a second, identical one uses the Trainer's early stopping (patience, restore_best).
    Expected: final val loss ≥ 1.1× its minimum, and the restored checkpoint's test accuracy above
    the final model's. Quick profile: ~4 s."""
    d = noisy_subset(400, 0.3, ctx.seed)
    d, val = d.validation(0.2, ctx.seed)
    epochs, patience = ctx.pick(60, 150), 10

    def run(**kw):
        torch.manual_seed(ctx.seed)
        model = MLP(64, [512, 512], 10)
        cfg = TrainConfig(
            epochs=epochs, batch_size=32, lr=1e-3, optimizer="adam", seed=ctx.seed, device=ctx.device, **kw
        )
        trainer = Trainer(model, cfg)
        trainer.fit((d.x_train, d.y_train), val=val)
        return trainer

    full = run()
    early = run(patience=patience, restore_best=True)
    losses = [h["val_loss"] for h in full.history]
    best = int(np.argmin(losses))
    acc_final = eval_acc(full, d.x_test, d.y_test)
    acc_early = eval_acc(early, d.x_test, d.y_test)
    ctx.series("val_loss", losses)
    ctx.series("train_loss", [h["train_loss"] for h in full.history])

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, label="validation loss")
    ax.plot(range(1, len(losses) + 1), [h["train_loss"] for h in full.history], label="training loss")
    ax.axvline(best + 1, color="gray", ls="--", label=f"minimum (epoch {best + 1})")
    ax.axvline(early.history[-1]["epoch"] + 1, color="red", ls=":", label=f"stopped (patience {patience})")
    ax.set(
        xlabel="epoch",
        ylabel="cross-entropy",
        yscale="log",
        title=f"test acc: early-stopped {100 * acc_early:.1f}%, final {100 * acc_final:.1f}%",
    )
    ax.legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {
        "val_loss_min": losses[best],
        "val_loss_final": losses[-1],
        "final_over_min_val_loss": losses[-1] / losses[best],
        "best_epoch": best + 1,
        "stopped_epoch": early.history[-1]["epoch"] + 1,
        "test_acc_early_stopped": acc_early,
        "test_acc_final": acc_final,
        "early_minus_final_test_acc": acc_early - acc_final,
    }
    bars = [Bar("final_over_min_val_loss", ">=", 1.1), Bar("early_minus_final_test_acc", ">", 0.0)]
    return ctx.result(
        metrics,
        bars,
        bar="final val loss ≥ 1.1× its minimum; test accuracy at the early-stopped checkpoint > final",
        config={
            "n_train": 400,
            "label_noise": 0.3,
            "epochs": epochs,
            "patience": patience,
            "hidden": [512, 512],
            "lr": 1e-3,
        },
    )


def _histogram_modes(w: np.ndarray, bins: int = 40) -> float:
    """Dip ratio of the histogram of log10|w| (nonzero w): the lowest bin between the two highest
    local maxima over the lower of the two (< 0.5: two clear modes; 1.0: one mode)."""
    h, _ = np.histogram(np.log10(np.abs(w[w != 0]) + 1e-12), bins=bins)
    h = np.convolve(h, np.ones(3) / 3, mode="same")
    peaks = [
        i
        for i in range(len(h))
        if h[i] > 0 and h[i] >= h[max(i - 1, 0)] and h[i] >= h[min(i + 1, len(h) - 1)]
    ]
    if len(peaks) < 2:
        return 1.0
    best = 1.0
    for a in range(len(peaks)):
        for b in range(a + 1, len(peaks)):
            i, j = peaks[a], peaks[b]
            best = min(best, h[i : j + 1].min() / min(h[i], h[j]))
    return float(best)


@experiment(
    chapter="T",
    title="L1 makes exact zeros, L2 shrinks, weight elimination spares large weights",
    claim="L1 drives weights to exact zero at a constant rate; L2 shrinks in proportion; weight elimination "
    "(penalty Σ w²/(w₀²+w²)) removes small weights and spares large ones",
)
def l1_vs_l2(ctx: Context):
    """`deltalab run l1-vs-l2` — claim l1-vs-l2. A digits MLP 64-128-10 trained by minibatch SGD
    with (a) L1 by proximal soft-threshold steps, (b) L2 as weight decay, (c) weight elimination.
    Expected: L1 ≥ 50% exact zeros within 2 points of L2's test accuracy; L2 no exact zeros;
    weight elimination's log|w| histogram bimodal (dip ratio < 0.5). Quick profile: ~5 s."""
    d = load_digits().to(ctx.device)
    steps, lr, bs = ctx.pick(3000, 8000), 0.1, 64
    lam_l1, lam_l2, lam_we, w0 = 1e-3, 1e-3, 1e-3, 0.05
    weights: dict[str, np.ndarray] = {}
    accs: dict[str, float] = {}
    for kind in ("l1", "l2", "we"):
        torch.manual_seed(ctx.seed)
        model = MLP(64, [128], 10).to(ctx.device)
        ws = penalized_weights(model)
        opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=0.0)
        if kind == "l2":
            opt = torch.optim.SGD(
                [
                    {"params": ws, "weight_decay": lam_l2},
                    {"params": [p for p in model.parameters() if p.dim() < 2]},
                ],
                lr=lr,
            )
        _fit_penalized(
            model,
            opt,
            ws,
            (d.x_train, d.y_train),
            steps,
            bs,
            ctx.seed,
            we=(lam_we, w0) if kind == "we" else None,
            l1_threshold=lr * lam_l1 if kind == "l1" else None,
        )
        with torch.no_grad():
            accs[kind] = (model(d.x_test).argmax(1) == d.y_test).float().mean().item()
        weights[kind] = torch.cat([w.detach().flatten() for w in ws]).cpu().numpy()
        ctx.log(f"{kind}: test {accs[kind]:.3f}, zeros {exact_zero_fraction(ws):.3f}")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    names = {"l1": "L1 (proximal)", "l2": "L2 (weight decay)", "we": f"weight elimination (w₀={w0})"}
    for ax, kind in zip(axes, names):
        w = weights[kind]
        nz = w[w != 0]
        ax.hist(np.log10(np.abs(nz) + 1e-12), bins=40)
        ax.set(
            title=f"{names[kind]}\n{100 * (w == 0).mean():.0f}% exact zeros, test {100 * accs[kind]:.1f}%",
            xlabel="log10 |w| (nonzero weights)",
        )
    ctx.savefig(fig)
    metrics = {
        "l1_zero_fraction": float((weights["l1"] == 0).mean()),
        "l2_zero_fraction": float((weights["l2"] == 0).mean()),
        "we_zero_fraction": float((weights["we"] == 0).mean()),
        "test_acc_l1": accs["l1"],
        "test_acc_l2": accs["l2"],
        "test_acc_we": accs["we"],
        "l1_minus_l2_test_acc": accs["l1"] - accs["l2"],
        "we_dip_ratio": _histogram_modes(weights["we"]),
        "l2_dip_ratio": _histogram_modes(weights["l2"]),
    }
    bars = [
        Bar("l1_zero_fraction", ">=", 0.5),
        Bar("l1_minus_l2_test_acc", ">=", -0.02),
        Bar("l2_zero_fraction", "==", 0.0),
        Bar("we_dip_ratio", "<", 0.5),
    ]
    return ctx.result(
        metrics,
        bars,
        bar="L1 ≥ 50% exact zeros within 2 points of L2's test accuracy; L2 "
        "none; weight elimination's log|w| histogram bimodal (dip ratio < 0.5)",
        config={
            "steps": steps,
            "lr": lr,
            "batch_size": bs,
            "lambda_l1": lam_l1,
            "lambda_l2": lam_l2,
            "lambda_we": lam_we,
            "w0": w0,
            "hidden": [128],
        },
    )
