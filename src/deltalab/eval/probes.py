"""The yardsticks of representation learning: a linear probe, a kNN classifier and a collapse meter.

- Linear probe (Alain & Bengio, arXiv:1610.01644; the SimCLR/BYOL evaluation protocol): freeze the
  encoder, fit multinomial logistic regression on its features, report test accuracy. Few-label
  probes fit on ``per_class`` labelled examples per class, averaged over several draws.
- kNN: majority vote of the k nearest training features (cosine or Euclidean).
- Collapse: the per-dimension standard deviation of L2-normalized embeddings (BYOL/SimSiam's
  diagnostic, Chen & He arXiv:2011.10566 §4.1): about 1/√D when spread out, 0 when collapsed.

The probe uses scikit-learn's LogisticRegression (lbfgs) on standardized features: the same fixed
regularization for every encoder, so a comparison of encoders is fair (no per-encoder tuning).
``blas_threads`` (default None: the BLAS libraries' own thread count) caps the BLAS threads of the
fit: on a busy machine whose runs are pinned to one thread, OpenBLAS's default of one thread per core
spins and made each 100-example fit ~10x dearer in CPU seconds (measured: 0.10 s vs 0.008 s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data.base import Split


def few_label_indices(y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """``per_class`` random indices of every class in ``y`` (seeded), concatenated."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than per_class={per_class}")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(out)


def linear_probe(
    f_train: torch.Tensor,
    y_train: torch.Tensor,
    f_test: torch.Tensor,
    y_test: torch.Tensor,
    C: float = 1.0,
    blas_threads: int | None = None,
) -> float:
    """Test accuracy of logistic regression fitted on standardized frozen features (N, D).

    blas_threads: cap on the BLAS threads during the fit and prediction (None: the libraries' default).
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if C <= 0:
        raise ValueError(f"C must be > 0, got {C}")
    if blas_threads is not None and blas_threads < 1:
        raise ValueError(f"blas_threads must be None or >= 1, got {blas_threads}")
    a, b = f_train.detach().double().cpu().numpy(), f_test.detach().double().cpu().numpy()
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        mu, sd = a.mean(0), a.std(0) + 1e-8
        clf = LogisticRegression(C=C, max_iter=2000)
        clf.fit((a - mu) / sd, y_train.cpu().numpy())
        return float(np.mean(clf.predict((b - mu) / sd) == y_test.cpu().numpy()))


def knn_accuracy(
    f_train: torch.Tensor,
    y_train: torch.Tensor,
    f_test: torch.Tensor,
    y_test: torch.Tensor,
    k: int = 5,
    metric: str = "cosine",
) -> float:
    """Test accuracy of a k-nearest-neighbour majority vote (ties → smallest label)."""
    if k < 1 or k > len(f_train):
        raise ValueError(f"k must be in [1, {len(f_train)}], got {k}")
    if metric == "cosine":
        sim = F.normalize(f_test, dim=1) @ F.normalize(f_train, dim=1).T  # (N_test, N_train)
    elif metric == "euclidean":
        sim = -torch.cdist(f_test, f_train)
    else:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    nn_idx = sim.topk(k, dim=1).indices  # (N_test, k)
    votes = F.one_hot(y_train[nn_idx], int(y_train.max()) + 1).sum(1)  # (N_test, classes)
    return float((votes.argmax(1) == y_test).float().mean())


def few_label_probe(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    per_class: int = 10,
    draws: int = 5,
    seed: int = 0,
    blas_threads: int | None = None,
) -> float:
    """Mean linear-probe accuracy over ``draws`` seeded draws of ``per_class`` labels per class."""
    with torch.no_grad():
        f_train, f_test = encode(x_train), encode(x_test)
    accs = []
    for d in range(draws):
        idx = few_label_indices(y_train, per_class, seed + d)
        accs.append(linear_probe(f_train[idx], y_train[idx], f_test, y_test, blas_threads=blas_threads))
    return float(np.mean(accs))


def embedding_std(z: torch.Tensor) -> torch.Tensor:
    """Per-dimension std of the L2-normalized embeddings z (N, D) → (D,); ≈ 1/√D spread, 0 collapsed."""
    if z.dim() != 2 or len(z) < 2:
        raise ValueError(f"expected embeddings of shape (N >= 2, D), got {tuple(z.shape)}")
    return F.normalize(z.detach(), dim=1).std(dim=0)


def probe(
    encode: Callable[[torch.Tensor], torch.Tensor],
    d: Split,
    seed: int,
    draws: int = 5,
    blas_threads: int | None = None,
) -> float:
    """Chapter S's yardstick: a linear probe fitted on 10 labels per class of ``d``'s train split,
    scored on its test split; the mean over ``draws`` draws of the labelled examples."""
    if isinstance(encode, nn.Module):
        encode.eval()
    return few_label_probe(
        encode,
        d.x_train,
        d.y_train,
        d.x_test,
        d.y_test,
        per_class=10,
        draws=draws,
        seed=seed,
        blas_threads=blas_threads,
    )


def probe_every(
    k: int,
    encoder: nn.Module,
    d: Split,
    seed: int,
    curve: list[list[float]],
    blas_threads: int | None = None,
) -> Callable[..., None]:
    """An ``on_step`` callback that appends (step + 1, probe accuracy with 2 draws) every k steps."""

    def on_step(step: int, _model: nn.Module) -> None:
        if (step + 1) % k == 0:
            curve.append([step + 1, probe(encoder, d, seed, draws=2, blas_threads=blas_threads)])
            if isinstance(encoder, nn.Module):
                encoder.train()

    return on_step
