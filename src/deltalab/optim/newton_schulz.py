"""Quintic Newton–Schulz orthogonalization: G ↦ ≈ U Vᵀ without an SVD.

Keller Jordan, "Muon: An optimizer for hidden layers in neural networks" (2024,
kellerjordan.github.io/posts/muon); the matrix-sign iteration behind it goes back to
Higham, "Functions of Matrices" (2008), ch. 5, and Bernstein & Newhouse, "Old Optimizer, New Norm:
An Anthology" (arXiv:2409.20325) show it is steepest descent under the spectral norm.

With G = U S Vᵀ and X₀ = G / ‖G‖_F (so every singular value is ≤ 1), each step is

    A = X Xᵀ,   X ← a X + (b A + c A²) X,     (a, b, c) = (3.4445, −4.7750, 2.0315)

which maps every singular value through p(σ) = aσ + bσ³ + cσ⁵ and leaves U, V alone. The
coefficients maximise the slope at zero (a^5 ≈ 487 after five steps) at the price of not converging
to exactly 1: after five steps the singular values land in about [0.5, 1.2], not at 1.

Shapes: G is (m, n). The iteration is run on the short side: if m > n it works on Gᵀ so that the
Gram matrix A is (min(m, n), min(m, n)); the long-side form (``short_side=False``) builds the
(max, max) Gram matrix and exists only to measure that difference.

Departures from torch.optim._muon._zeropower_via_newtonschulz:
1. ``dtype`` is a choice (torch always uses bf16, also the default here). bf16 pays only where the
   hardware has native bf16 matmuls (GPUs; CPUs with avx512_bf16 / AMX, ~2.4× fp32); on a CPU
   without them (e.g. the lab host of Nov 2026: ~1 GFLOP/s) pass ``dtype=torch.float32``.
2. Leading batch dimensions are allowed: (..., m, n) is orthogonalized matrix by matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(
    G: Tensor,
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
    dtype: torch.dtype | None = torch.bfloat16,
    short_side: bool = True,
) -> Tensor:
    """Approximately orthogonalize ``G`` (..., m, n) with ``steps`` quintic Newton–Schulz steps.

    dtype: the matmul dtype (``None`` keeps G's); the result is returned in that dtype.
    short_side: iterate on the (min, min) Gram matrix (transposing tall inputs); False forms the
        (m, m) Gram matrix whatever the shape (slower for tall matrices; for comparison only).
    """
    if G.ndim < 2:
        raise ValueError(f"newton_schulz expects a matrix (..., m, n), got shape {tuple(G.shape)}")
    if not 0 <= steps < 100:
        raise ValueError(f"steps must be in [0, 100), got {steps}")
    if len(coefficients) != 3:
        raise ValueError(f"coefficients must be three numbers (a, b, c), got {coefficients}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    a, b, c = coefficients
    X = G.to(dtype) if dtype is not None else G.clone()
    transpose = short_side and G.size(-2) > G.size(-1)
    if transpose:
        X = X.mT  # (..., n, m) with n < m
    shape = X.shape
    X = X.reshape(-1, *shape[-2:])  # (M, s, l): leading dims flattened
    X = X / X.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)  # σ_max ≤ ‖X‖_F = 1
    for _ in range(steps):
        A = X @ X.mT  # (M, s, s), s = rows of X
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b A + c A²
        X = torch.baddbmm(X, B, X, beta=a)  # a X + B X, (M, s, l)
    X = X.reshape(shape)
    return X.mT if transpose else X
