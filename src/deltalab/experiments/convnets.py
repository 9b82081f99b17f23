"""Chapter C, convolutional networks on the digits: translation-invariance, cnn-architectures,
resnet-depth."""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import torch
from torch import nn

from deltalab.data import load_digits
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.cnn import CNN, InceptionNet, NiN
from deltalab.models.mlp import MLP
from deltalab.models.resnet import ResNet
from deltalab.train import TrainConfig, Trainer
from deltalab.train.fit import fit_classifier


def on_canvas(images: torch.Tensor, canvas: int, offsets: torch.Tensor) -> torch.Tensor:
    """Paste (N, 1, h, w) images into a zero (N, 1, canvas, canvas) canvas at per-image (row, col) offsets."""
    n, _, h, w = images.shape
    if offsets.max() > canvas - max(h, w) or offsets.min() < 0:
        raise ValueError(
            f"offsets must be in [0, {canvas - max(h, w)}], got range "
            f"[{int(offsets.min())}, {int(offsets.max())}]"
        )
    out = torch.zeros(n, 1, canvas, canvas)
    for i, (r, c) in enumerate(offsets.tolist()):
        out[i, :, r : r + h, c : c + w] = images[i]
    return out


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate (N, 1, H, W) images about their centre (bilinear, zero fill)."""
    from scipy.ndimage import rotate as nd_rotate

    arr = nd_rotate(images.numpy(), degrees, axes=(2, 3), reshape=False, order=1, mode="constant")
    return torch.from_numpy(np.ascontiguousarray(arr)).float()


@experiment(
    chapter="C",
    title="Convolution and pooling give translation invariance; an MLP has none",
    claim="conv + max-pool + global average pooling classify shifted digits; an MLP does not; "
    "neither is rotation-invariant by construction",
)
def translation_invariance(ctx: Context):
    """`deltalab run translation-invariance` — claim translation-invariance. Expected: trained on digits
    centred on a 12×12 canvas, a conv/max-pool/GAP net keeps its accuracy on digits shifted by up to
    ±2 pixels, ≥ 20 points above an MLP of similar size (measured 81% vs 18%, +63 points); accuracy on
    rotated digits is reported for both (both drop: ~35–50% at 30°). Quick profile: ~7 s."""
    d = load_digits(images=True)
    g = torch.Generator().manual_seed(ctx.seed)
    canvas, centre = 12, 2
    x_tr = on_canvas(d.x_train, canvas, torch.full((len(d.x_train), 2), centre))
    x_te = on_canvas(d.x_test, canvas, torch.full((len(d.x_test), 2), centre))
    shifts = [(r, c) for r in range(5) for c in range(5) if (r, c) != (centre, centre)]
    pick = torch.randint(len(shifts), (len(d.x_test),), generator=g)
    x_shift = on_canvas(d.x_test, canvas, torch.tensor(shifts)[pick])
    epochs = ctx.pick(quick=15, full=40)
    models = {
        "CNN (conv+pool+GAP)": CNN((1, canvas, canvas), 10, widths=(16, 32, 32), head="gap"),
        "MLP": MLP(canvas * canvas, [128, 64], 10),
    }
    angles = [0, 15, 30, 45, 90, 180]
    acc: dict[str, dict[str, float]] = {}
    per_shift: dict[str, list[float]] = {}
    for k, (name, model) in enumerate(models.items()):
        tr = fit_classifier(model, x_tr, d.y_train, epochs=epochs, seed=ctx.seed + k, device=ctx.device)
        acc[name] = {
            "centred": tr.evaluate((x_te, d.y_test), prefix="")["acc"],
            "shifted": tr.evaluate((x_shift, d.y_test), prefix="")["acc"],
        }
        for a in angles[1:]:
            acc[name][f"rot{a}"] = tr.evaluate((rotate(x_te, a), d.y_test), prefix="")["acc"]
        per_shift[name] = [
            tr.evaluate(
                (on_canvas(d.x_test, canvas, torch.tensor([[centre, c]] * len(d.x_test))), d.y_test),
                prefix="",
            )["acc"]
            for c in range(5)
        ]
        ctx.log(f"{name}: {acc[name]}")
    cnn, mlp = acc["CNN (conv+pool+GAP)"], acc["MLP"]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, v in per_shift.items():
        axes[0].plot(range(-2, 3), v, "o-", label=name)
    axes[0].set(xlabel="horizontal shift (pixels)", ylabel="test accuracy", title="Shift (trained centred)")
    for name in models:
        axes[1].plot(
            angles, [acc[name]["centred"]] + [acc[name][f"rot{a}"] for a in angles[1:]], "o-", label=name
        )
    axes[1].set(xlabel="rotation (degrees)", title="Rotation: neither is invariant")
    axes[0].legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {
        "cnn_centred_acc": cnn["centred"],
        "cnn_shifted_acc": cnn["shifted"],
        "mlp_centred_acc": mlp["centred"],
        "mlp_shifted_acc": mlp["shifted"],
        "shifted_gap_points": 100 * (cnn["shifted"] - mlp["shifted"]),
    }
    for a in angles[1:]:
        metrics[f"cnn_rot{a}_acc"] = cnn[f"rot{a}"]
        metrics[f"mlp_rot{a}_acc"] = mlp[f"rot{a}"]
    return ctx.result(
        metrics,
        [Bar("shifted_gap_points", ">=", 20.0)],
        bar="trained on centred digits: CNN accuracy on shifted test digits >= 20 points above the MLP's",
        config={
            "canvas": canvas,
            "shifts": "uniform in ±2 px per axis, centre excluded",
            "epochs": epochs,
            "optimizer": "adamw lr 3e-3 batch 64",
        },
    )


LR_ZOO = 1e-2
"""cnn-architectures' peak rate: the best mean validation accuracy over the zoo in the grid
{3e-3, 1e-2, 3e-2} (one-cycle, 6 epochs, a 20% validation split of train, seeds 0–2: 0.986 /
0.994 / 0.992; worst single run 0.933 / 0.978 / 0.981)."""


def architectures() -> dict[str, nn.Module]:
    """The zoo of cnn-architectures, all for (1, 8, 8) digits."""
    shape = (1, 8, 8)
    return {
        "CNN (flatten head)": CNN(shape, 10, (32, 64), head="flatten"),
        "CNN + global avg pool": CNN(shape, 10, (32, 64, 64), head="gap"),
        "CNN + 1×1 bottlenecks": CNN(shape, 10, (32, 64, 64), head="gap", bottleneck=16),
        "Network-in-Network": NiN(shape, 10, width=32),
        "Inception": InceptionNet(shape, 10, width=16),
        "ResNet-8 (basic)": ResNet(shape, 10, num_layers=8, width=16),
        "ResNet-11 (bottleneck)": ResNet(shape, 10, num_layers=11, width=32, block="bottleneck"),
    }


@experiment(
    chapter="C",
    title="Network-in-Network, GAP, 1×1 bottlenecks, Inception and ResNet blocks each train",
    claim="Network-in-Network, global average pooling, 1×1 bottlenecks, an Inception module and "
    "residual blocks, each trains",
)
def cnn_architectures(ctx: Context):
    """`deltalab run cnn-architectures` — claim cnn-architectures. Expected: every architecture reaches
    >= 95% test accuracy on digits; parameter counts reported (the 1×1 bottlenecks cut the same GAP
    net from 56.6k to 21.3k weights). Each trains 6 epochs with AdamW (weight decay 0.01) under a
    one-cycle schedule peaking at :data:`LR_ZOO` (chosen on a validation split); a constant 3e-3
    left the batch-normed ResNets wherever the last steps put them (ResNet-8 0.944 and 0.929 at
    seeds 1 and 4). Measured min over the zoo, seeds 0–4: 0.967 / 0.967 / 0.978 / 0.973 / 0.984
    (the smallest net, the 9.6k-weight bottleneck ResNet-11, is the minimum at 4 of 5 seeds; the
    others 0.980–0.998). Quick profile: ~10 s."""
    d = load_digits(images=True)
    epochs = ctx.pick(quick=6, full=30)
    accs, params = {}, {}
    for k, (name, model) in enumerate(architectures().items()):
        torch.manual_seed(ctx.seed * 100 + k)  # the initial weights follow the seed too
        tr = fit_classifier(
            model,
            d.x_train,
            d.y_train,
            epochs=epochs,
            lr=LR_ZOO,
            seed=ctx.seed + k,
            device=ctx.device,
            one_cycle=True,
            weight_decay=0.01,
        )
        accs[name] = tr.evaluate((d.x_test, d.y_test), prefix="")["acc"]
        params[name] = sum(p.numel() for p in model.parameters())
        ctx.log(f"{name}: acc {accs[name]:.3f}, {params[name]} params")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(accs)
    ax.barh(names, [100 * accs[n] for n in names])
    for i, n in enumerate(names):
        ax.text(
            100 * accs[n] - 1,
            i,
            f"{100 * accs[n]:.1f}%  ({params[n] / 1000:.1f}k params)",
            ha="right",
            va="center",
            color="white",
            fontsize=8,
        )
    ax.axvline(95, color="k", ls="--", lw=1)
    ax.set(xlim=(50, 100), xlabel="digits test accuracy (%)", title="Each architecture trains (bar 95%)")
    ctx.savefig(fig)
    slug = {
        n: n.split(" (")[0].lower().replace(" + ", "_").replace("×", "x").replace(" ", "_").replace("-", "_")
        for n in names
    }
    slug["CNN (flatten head)"], slug["ResNet-11 (bottleneck)"] = "cnn_flatten", "resnet11_bottleneck"
    metrics: dict[str, float] = {}
    for n in names:
        metrics[f"acc_{slug[n]}"] = accs[n]
        metrics[f"params_{slug[n]}"] = params[n]
    metrics["min_acc"] = min(accs.values())
    return ctx.result(
        metrics,
        [Bar("min_acc", ">=", 0.95)],
        bar="every architecture >= 95% test accuracy on digits",
        config={
            "epochs": epochs,
            "optimizer": f"adamw peak lr {LR_ZOO:g} one-cycle, weight decay 0.01, batch 64",
            "models": names,
        },
    )


RESNET_LR_GRID = [0.01, 0.03, 0.1, 0.3]
"""resnet-depth's shared rate grid (×3 steps). Measured best at depth 20, seeds 0–2, on a wider
grid {0.01 … 1.0}: residual 0.03 or 0.1, plain 0.1 — inside this one; 1.0 was worst for both."""


@experiment(
    chapter="C",
    title="Plain deep nets train worse as depth grows; residual nets do not",
    claim="plain deep nets train worse as depth grows; residual nets do not",
)
def resnet_depth(ctx: Context):
    """`deltalab run resnet-depth` — claim resnet-depth. Expected: at depth 20 (quick; 8, 20, 32 and 56
    in full) the residual net's final train loss is below its plain twin's (same convs and batch
    norms, no shortcuts), each arm at its own best rate. SGD with momentum 0.9 and weight decay
    1e-4 as in the ResNet paper, the rate cosine-annealed to 0 over 3 epochs (quick; 20 in full) (so
    that the end point settles: under a constant rate the eval-mode loss of these batch-normed nets
    jumped by 3-6× from one grid point to the next); every (arm, depth) takes the rate from
    :data:`RESNET_LR_GRID` that gives it the lowest final train loss — the claim's own metric, on the
    training set. Quick profile: every rate trains the first 20 of 66 steps (about a third), and the
    two with the lowest mean train loss over that third's second half finish (one halving, the same
    for both arms; the full profile finishes every rate).
    Measured, quick (3 epochs), plain/residual at seeds 0-27: 4.3 / 3.1 / 8.3 / 4.4 / 8.2 / 6.0 / 4.5 /
    7.4 / 4.0 / 5.8 / 5.5 / 5.9 / 5.2 / 4.1 / 7.7 / 5.1 / 10.4 / 9.0 / 5.9 / 7.8 / 5.8 / 3.8 / 6.6 /
    8.6 / 6.4 / 6.0 / 4.7 / 7.9 (min 3.1 at seed 1; plain 0.88-1.76, residual 0.11-0.42). The plain
    arm's pick sits at the grid's top (0.3) at 10 of the 28 seeds (the residual's at 2); above the
    grid the plain net trains worse (3 epochs, plain final loss at 0.3 / 0.6 / 1.0: seed 0 1.06 /
    2.16 / 2.13, seed 1 1.19 / 1.70 / 1.76, seed 13 0.90 / 1.63 / 2.26), so the edge does not hide
    a better plain rate. ~5-7 s single-thread CPU per seed.
    Previous quick recipe (6 epochs, 40 of 132 steps before the halving, ~12-13 s of CPU per seed):
    at seeds 0-7 the whole grid's best was always a finalist: plain 0.92 / 1.28 / 0.72 / 0.70 / 0.75
    / 0.61 / 0.71 / 0.86, residual 0.075 / 0.114 / 0.085 / 0.087 / 0.111 / 0.039 / 0.059 / 0.100,
    plain/residual 12.3 / 11.2 / 8.5 / 8.0 / 6.8 / 15.6 / 12.0 / 8.6, worst 5.4 over seeds 0-27, no
    chosen rate at the grid's edge. Also read at seeds 0-27: 4 epochs with the halving, 2.7-17.1
    (min at seed 11), ~8.5 s; 4 epochs with one finalist, 3.7-17.1, ~5.7 s (the pick then by the
    early loss alone). (One shared untuned constant 0.05 gave ratios 2.4–35 at 6 epochs.) Depth 8 is
    in the full profile only; 20 s of CPU when every rate ran 6 epochs to the end."""
    d = load_digits(images=True)
    depths = ctx.pick(quick=[20], full=[8, 20, 32, 56])
    epochs = ctx.pick(quick=3, full=20)
    steps = epochs * math.ceil(len(d.x_train) / 64)
    curves: dict[str, list[float]] = {}
    final: dict[str, float] = {}
    chosen: dict[str, float] = {}
    # Every rate trains its first third; in the quick profile only the two best by mean train loss
    # over that third's second half go on to the end (the rest of their run continues exactly where
    # it stopped: same batches, optimizer and schedule). Full profile: every rate to the end.
    probe = steps // 3 // 5 * 5  # a multiple of eval_every, so the curves are those of one run
    keep = ctx.pick(quick=2, full=len(RESNET_LR_GRID))
    for depth in depths:
        for residual in (True, False):
            key = f"{'resnet' if residual else 'plain'}{depth}"
            trainers: dict[float, Trainer] = {}
            for lr in RESNET_LR_GRID:
                torch.manual_seed(ctx.seed + depth)  # the same initial weights at every rate
                model = ResNet((1, 8, 8), 10, num_layers=depth, width=8, residual=residual)
                opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
                tr = Trainer(
                    model,
                    TrainConfig(
                        epochs=epochs,
                        batch_size=64,
                        seed=ctx.seed,
                        device=ctx.device,
                        eval_every=5,
                        on_nonfinite="stop",
                        max_steps=probe,
                    ),
                    optimizer=opt,
                    scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps),
                )
                tr.fit((d.x_train, d.y_train))
                trainers[lr] = tr

            early = {
                lr: math.inf
                if tr.diverged
                else statistics.fmean(h["train_loss"] for h in tr.history if h["step"] > probe // 2)
                for lr, tr in trainers.items()
            }
            runs = {}
            for lr in sorted(RESNET_LR_GRID, key=early.__getitem__)[:keep]:
                tr = trainers[lr]
                if not tr.diverged:
                    tr.config = dataclasses.replace(tr.config, max_steps=None)
                    tr.fit((d.x_train, d.y_train))
                loss = math.inf if tr.diverged else tr.evaluate((d.x_train, d.y_train), prefix="")["loss"]
                runs[lr] = (loss, [h["train_loss"] for h in tr.history])
            chosen[key] = min(runs, key=lambda lr: runs[lr][0])
            final[key], curves[key] = runs[chosen[key]]
            ctx.series(key, curves[key])
            ctx.log(
                f"{key}: final train loss {final[key]:.4f} at lr {chosen[key]:g} "
                f"(finalists {sorted(runs)}, of {RESNET_LR_GRID})"
            )
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for key, c in curves.items():
        ax.plot(
            [5 * (i + 1) for i in range(len(c))],
            c,
            "-" if key.startswith("res") else "--",
            label=f"{key} (lr {chosen[key]:g})",
        )
    ax.set(xlabel="step", ylabel="train loss", yscale="log", title="Plain vs residual, each at its best rate")
    ax.legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {f"train_loss_{k}": v for k, v in final.items()}
    metrics.update({f"lr_{k}": v for k, v in chosen.items()})
    metrics["chosen_lr_at_grid_edge"] = sum(
        v in (RESNET_LR_GRID[0], RESNET_LR_GRID[-1]) for v in chosen.values()
    )
    deep = [dp for dp in depths if dp >= 20]
    bars = []
    for dp in deep:
        name = "plain_over_resnet_deep" if dp == deep[0] else f"plain_over_resnet_{dp}"
        metrics[name] = final[f"plain{dp}"] / final[f"resnet{dp}"]
        bars.append(Bar(name, ">", 1.0))
    if depths[0] < deep[0]:
        metrics["plain_deep_over_shallow"] = final[f"plain{deep[0]}"] / final[f"plain{depths[0]}"]
        metrics["resnet_deep_over_shallow"] = final[f"resnet{deep[0]}"] / final[f"resnet{depths[0]}"]
    return ctx.result(
        metrics,
        bars,
        bar=f"at depth {deep[0]}+: residual train loss below plain's (equal steps, each at its best rate)",
        config={
            "depths": depths,
            "width": 8,
            "epochs": epochs,
            "optimizer": "sgd momentum 0.9 wd 1e-4, cosine to 0",
            "lr_grid": RESNET_LR_GRID,
            "lr_selection": "per arm and depth: lowest final train loss",
            "batch_size": 64,
        },
    )
