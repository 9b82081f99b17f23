"""Chapter C: what a trained CNN responds to — activation maximization, saliency maps and the
deconvnet projection through max-pool switches — claim visualization."""

from __future__ import annotations

import torch
from torch import nn

from deltalab.analysis.saliency import ActMaxConfig, activation_maximization, deconv_projection, saliency_map
from deltalab.data import load_digits
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.cnn import CNN
from deltalab.models.mlp import MLP
from deltalab.train.fit import fit_classifier


@experiment(
    chapter="C",
    title="Gradient ascent on the input shows what a class responds to",
    claim="gradient ascent on the input shows what a unit or class responds to; saliency maps; "
    "deconvnet-style projection through max-pool switches",
)
def visualization(ctx: Context):
    """`deltalab run visualization` — claim visualization. Expected: class-maximizing inputs of a CNN
    trained on digits (10 restarts per class; Adam ascent on the logit with L2 decay, blur every 4
    steps and 1-pixel jitter) are classified as their class by an independently trained judge (an MLP,
    other seed) at >= 90% (measured 99–100%); image grids of the maximizing inputs, saliency maps and
    deconvnet projections are shown. The regularizer strength matters: without enough blur the judge
    reads some classes (3 → 2) wrongly. Quick profile: ~7 s."""
    d = load_digits(images=True)
    epochs = ctx.pick(quick=10, full=30)
    torch.manual_seed(ctx.seed)
    cnn = CNN(
        (1, 8, 8), 10, (32, 64), batch_norm=False
    )  # conv/ReLU/max-pool only: the deconvnet can invert it
    fit_classifier(cnn, d.x_train, d.y_train, epochs=epochs, seed=ctx.seed, device=ctx.device)
    torch.manual_seed(ctx.seed + 101)
    judge = MLP(64, [128], 10)
    fit_classifier(judge, d.x_train, d.y_train, epochs=2 * epochs, seed=ctx.seed + 101, device=ctx.device)
    cnn.eval()
    judge.eval()
    with torch.no_grad():
        cnn_acc = (cnn(d.x_test).argmax(-1) == d.y_test).float().mean().item()
        judge_acc = (judge(d.x_test).argmax(-1) == d.y_test).float().mean().item()

    restarts = ctx.pick(quick=10, full=30)
    cfg = ActMaxConfig(steps=200, lr=0.05, l2=0.02, blur_every=4, blur_sigma=0.4, jitter=1)
    g = torch.Generator().manual_seed(ctx.seed)
    targets = torch.arange(10).repeat_interleave(restarts)
    init = 0.1 + 0.05 * torch.randn(len(targets), 1, 8, 8, generator=g)
    x = activation_maximization(cnn, targets, init, cfg, generator=g)
    with torch.no_grad():
        judged = judge(x.flatten(1)).argmax(-1)
        self_judged = cnn(x).argmax(-1)
    judge_rate = (judged == targets).float().mean().item()
    per_class = (judged == targets).view(10, restarts).float().mean(1)
    ctx.log(f"judge agrees on {judge_rate:.3f} of maximizing inputs; per class {per_class.tolist()}")

    fig, axes = plt.subplots(3, 10, figsize=(12, 4))
    for c in range(10):
        axes[0, c].imshow(x[c * restarts, 0].numpy(), cmap="gray_r")
        axes[0, c].set_title(f"max {c} → {int(judged[c * restarts])}", fontsize=8)
        axes[1, c].imshow(x[targets == c].mean(0)[0].numpy(), cmap="gray_r")
        axes[1, c].set_title("mean of restarts", fontsize=7)
        axes[2, c].imshow(d.x_train[d.y_train == c].mean(0)[0].numpy(), cmap="gray_r")
        axes[2, c].set_title(f"mean train {c}", fontsize=7)
    for a in axes.flat:
        a.axis("off")
    fig.suptitle("Activation maximization (title: class → judge's reading)")
    ctx.savefig(fig)

    idx = torch.stack([(d.y_test == c).nonzero()[0, 0] for c in range(10)])
    sal = saliency_map(cnn, d.x_test[idx])
    layers = [m for m in cnn if isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d))]
    with torch.no_grad():
        feats = nn.Sequential(*layers)(d.x_test[idx])
    top_channel = int(feats.mean((0, 2, 3)).argmax())
    proj = deconv_projection(layers, d.x_test[idx], top_channel)
    fig, axes = plt.subplots(3, 10, figsize=(12, 4))
    for i in range(10):
        axes[0, i].imshow(d.x_test[idx[i], 0].numpy(), cmap="gray_r")
        axes[1, i].imshow(sal[i].numpy(), cmap="hot")
        axes[2, i].imshow(proj[i, 0].numpy(), cmap="bwr")
    for a in axes.flat:
        a.axis("off")
    axes[0, 0].set_title("input", fontsize=8, loc="left")
    axes[1, 0].set_title("saliency |∂f/∂x|", fontsize=8, loc="left")
    axes[2, 0].set_title(f"deconvnet: channel {top_channel}", fontsize=8, loc="left")
    ctx.savefig(fig, suffix="saliency")
    metrics = {
        "judge_agreement": judge_rate,
        "cnn_agreement": (self_judged == targets).float().mean().item(),
        "worst_class_agreement": per_class.min().item(),
        "cnn_test_acc": cnn_acc,
        "judge_test_acc": judge_acc,
    }
    return ctx.result(
        metrics,
        [Bar("judge_agreement", ">=", 0.9)],
        bar="class-maximizing inputs classified as that class >= 90% by an independently trained classifier "
        "(MLP, other seed)",
        config={
            "restarts_per_class": restarts,
            "actmax": vars(cfg),
            "epochs": epochs,
            "model": "CNN (32, 64), no batch norm",
            "judge": "MLP [128], seed + 101",
        },
    )
