"""matplotlib on the Agg backend (no screen needed), and the figures several experiments draw.

``from deltalab.lab.plot import plt``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from deltalab.data.base import Split
    from deltalab.lab.experiment import Context

__all__ = ["collapse_figure", "embedding_figure", "image_mosaic", "plt", "sample_grid"]


def image_mosaic(images: torch.Tensor, cols: int, gap: int = 1) -> np.ndarray:
    """Tile square images (N, H·W), (N, H, W) or (N, 1, H, W) row-major into one array, ``cols`` per
    row, ``gap`` pixels of 0 between them: image j sits at row j // cols, column j % cols."""
    n = images.shape[0]
    side = math.isqrt(images[0].numel()) if n else 0
    if n == 0 or side * side != images[0].numel() or cols < 1:
        raise ValueError(
            f"expected a non-empty batch of square images and cols >= 1, got shape {tuple(images.shape)}, cols {cols}"
        )
    rows, step = -(-n // cols), side + gap
    out = np.zeros((rows * step - gap, min(n, cols) * step - gap), dtype=np.float32)
    for j, img in enumerate(images.detach().float().cpu().reshape(n, side, side).numpy()):
        r, c = divmod(j, cols)
        out[r * step : r * step + side, c * step : c * step + side] = img
    return out


def sample_grid(
    images: torch.Tensor, title: str, cols: int = 10, figsize=(8, 3.4), col_titles: list[str] | None = None
) -> Figure:
    """A figure of up to 40 images in [0, 1] (dark ink on white), ``cols`` per row, drawn as one image
    (one axes per image made the figure ~10× slower to draw); ``col_titles`` label the columns."""
    fig, ax = plt.subplots(figsize=figsize)
    mosaic = image_mosaic(images[:40], cols)
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, loc="left", fontsize=9)
    ax.axis("off")
    if col_titles is not None:
        step = (mosaic.shape[1] + 1) / cols
        for j, text in enumerate(col_titles):
            ax.text((j + 0.5) * step - 1, -1, text, fontsize=8, ha="center", va="bottom")
    return fig


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
