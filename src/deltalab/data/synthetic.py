"""Synthetic regression problems with a known answer (chapter L)."""

from __future__ import annotations

import torch

from deltalab.data.base import DATASETS, Split


def regression(
    n: int,
    d: int,
    noise: float = 0.1,
    eigenvalues: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """X (n, d), t (n,), w_true (d,) with t = X w_true + noise·ε.

    With ``eigenvalues`` (d values, n ≥ d) the design is built so that XᵀX/n has exactly that
    spectrum: X = √n · U diag(√λ) Vᵀ for random orthonormal U (n, d) and V (d, d).
    """
    if n < 1 or d < 1:
        raise ValueError(f"n and d must be >= 1, got n={n}, d={d}")
    if eigenvalues is None:
        X = torch.randn(n, d, generator=generator, dtype=dtype)
    else:
        if n < d or len(eigenvalues) != d:
            raise ValueError(
                f"a prescribed spectrum needs n >= d and d eigenvalues; got n={n}, d={d}, "
                f"{len(eigenvalues)} eigenvalues"
            )
        U, _ = torch.linalg.qr(torch.randn(n, d, generator=generator, dtype=dtype))
        V, _ = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=dtype))
        X = (n**0.5) * U @ torch.diag(eigenvalues.to(dtype).sqrt()) @ V.T
    w = torch.randn(d, generator=generator, dtype=dtype)
    t = X @ w + noise * torch.randn(n, generator=generator, dtype=dtype)
    return X, t, w


def separable_blobs(
    n: int, margin: float = 0.2, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linearly separable 2-D points with a margin: x (n, 2), labels ±1 (n,), unit separator (3,).

    Points come from U(-1, 1)², labelled by a random line through the square; points closer than
    ``margin`` to the line are redrawn. The separator acts on (1, x₁, x₂) (bias as x₀ = 1).
    """
    angle = torch.rand((), generator=generator) * 2 * torch.pi
    normal = torch.stack([torch.cos(angle), torch.sin(angle)])
    offset = (torch.rand((), generator=generator) - 0.5) * 0.4
    pts: list[torch.Tensor] = []
    while sum(len(p) for p in pts) < n:
        x = torch.rand(4 * n, 2, generator=generator) * 2 - 1
        dist = x @ normal + offset
        pts.append(x[dist.abs() >= margin])
    x = torch.cat(pts)[:n]
    y = torch.where(x @ normal + offset > 0, 1.0, -1.0)
    sep = torch.cat([offset.reshape(1), normal])
    return x, y, sep / sep.norm()


@DATASETS.register(name="regression")
def regression_split(n_train: int = 800, n_test: int = 200, d: int = 10, noise: float = 0.1) -> Split:
    """A synthetic linear regression problem (float32), for `deltalab train`-style use."""
    g = torch.Generator().manual_seed(0)
    X, t, _ = regression(n_train + n_test, d, noise, generator=g, dtype=torch.float32)
    return Split(X[:n_train], t[:n_train], X[n_train:], t[n_train:], 0, "regression")
