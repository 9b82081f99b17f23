"""Chapter S, Siamese nets: the contrastive loss lays classes out in a 2-D embedding (claim siamese)."""

from __future__ import annotations

import torch

from deltalab.data import load_digits
from deltalab.eval.probes import knn_accuracy
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.models.ssl.siamese import SiameseConfig, train_siamese


@experiment(
    chapter="S",
    title="Siamese nets with the contrastive loss cluster classes",
    claim="twin nets with the contrastive loss 1/2(1-Y)D^2 + 1/2 Y max(0, m-D)^2 (Y=1 for a dissimilar pair) "
    "cluster classes",
)
def siamese(ctx: Context):
    """`deltalab run siamese` — claim siamese. An MLP 64→128→128→2 applied to both members of
    half-similar/half-dissimilar digit pairs, contrastive loss with margin 1. Expected: 5-NN test
    accuracy in the 2-D embedding ≥ 10 points above 5-NN on PCA to 2-D (measured 97.1% vs 61.8%).
    Quick profile: ~6 s."""
    cfg = SiameseConfig(steps=ctx.pick(quick=400, full=2000))
    d = load_digits().to(ctx.device)
    torch.manual_seed(ctx.seed)
    net, losses = train_siamese(d.x_train, d.y_train, cfg, seed=ctx.seed)
    ctx.series("contrastive_loss", losses[::10])
    with torch.no_grad():
        e_train, e_test = net(d.x_train), net(d.x_test)  # (N, 2)
    mean = d.x_train.mean(0)
    _, _, v = torch.linalg.svd(d.x_train - mean, full_matrices=False)
    p_train, p_test = (d.x_train - mean) @ v[:2].T, (d.x_test - mean) @ v[:2].T  # (N, 2)
    acc_siamese = knn_accuracy(e_train, d.y_train, e_test, d.y_test, k=5, metric="euclidean")
    acc_pca = knn_accuracy(p_train, d.y_train, p_test, d.y_test, k=5, metric="euclidean")
    ctx.log(f"5-NN in 2-D: siamese {acc_siamese:.3f}, PCA {acc_pca:.3f}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    for ax, f, name, acc in ((axes[0], e_test, "Siamese", acc_siamese), (axes[1], p_test, "PCA", acc_pca)):
        sc = ax.scatter(f[:, 0].cpu(), f[:, 1].cpu(), c=d.y_test.cpu(), cmap="tab10", s=8)
        ax.set(title=f"{name} 2-D embedding of test digits (5-NN {acc:.1%})")
    fig.colorbar(sc, ax=axes, label="digit")
    ctx.savefig(fig)
    metrics = {
        "knn_siamese_2d": acc_siamese,
        "knn_pca_2d": acc_pca,
        "knn_gain_points": 100 * (acc_siamese - acc_pca),
    }
    return ctx.result(
        metrics,
        [Bar("knn_gain_points", ">=", 10.0)],
        bar="with a 2-D embedding: 5-NN test accuracy >= 10 points above PCA to 2-D",
        config={**cfg.__dict__, "hidden_dims": list(cfg.hidden_dims), "k": 5},
    )
