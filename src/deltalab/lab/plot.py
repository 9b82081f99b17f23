"""matplotlib on the Agg backend (no screen needed), and the figures several experiments draw.

``from deltalab.lab.plot import plt``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import matplotlib
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from deltalab.data.base import Split
    from deltalab.lab.experiment import Context

__all__ = ["collapse_figure", "embedding_figure", "plt", "sample_grid"]


def sample_grid(ax_grid, images: torch.Tensor, title: str) -> None:
    """Show up to 40 (B, 64) or (B, 1, 8, 8) images on a 4×10 grid of axes."""
    for ax, img in zip(ax_grid.flat, images[:40].reshape(-1, 8, 8).cpu(), strict=False):
        ax.imshow(img.numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    ax_grid.flat[0].set_title(title, loc="left", fontsize=9)


def embedding_figure(
    ctx: Context,
    encoders: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    d: Split,
    curve: list[list[float]],
    baselines: dict[str, float],
    suffix: str = "",
) -> None:
    """PCA of test embeddings coloured by class (one panel per encoder) and the probe curve."""
    fig, axes = plt.subplots(1, len(encoders) + 1, figsize=(4.2 * (len(encoders) + 1), 3.8))
    for ax, (name, enc) in zip(axes, encoders.items()):
        with torch.no_grad():
            f = enc(d.x_test)
        f = f - f.mean(0)
        xy = f @ torch.linalg.svd(f, full_matrices=False)[2][:2].T  # (N, 2)
        ax.scatter(xy[:, 0].cpu(), xy[:, 1].cpu(), c=d.y_test.cpu(), cmap="tab10", s=6)
        ax.set(title=f"{name}: PCA of h (test)", xticks=[], yticks=[])
    steps, accs = zip(*curve) if curve else ((), ())
    axes[-1].plot(steps, accs, "o-", label="pre-trained encoder")
    for (name, v), ls in zip(baselines.items(), ("--", ":", "-.")):
        axes[-1].axhline(v, color="k", ls=ls, lw=0.9, label=name)
    axes[-1].set(
        xlabel="pre-training step", ylabel="few-label probe accuracy", title="probe during pre-training"
    )
    axes[-1].legend(fontsize=8)
    ctx.savefig(fig, suffix)


def collapse_figure(ctx: Context, std0: torch.Tensor, std1: torch.Tensor, method: str) -> None:
    """Histogram of the per-dimension std of normalized embeddings at init and after ``method``."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist([std0.cpu().numpy(), std1.cpu().numpy()], bins=30, label=["at init", f"after {method}"])
    ax.axvline(std1.numel() ** -0.5, color="k", ls="--", lw=0.9, label="1/sqrt(D) (fully spread)")
    ax.set(
        xlabel="std of a dimension of f/|f|", ylabel="dimensions", title="collapse check: per-dimension std"
    )
    ax.legend()
    ctx.savefig(fig, "std")
