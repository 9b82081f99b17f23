"""Closed forms for linear least squares and its regularized relatives (chapter L checks against them).

Legend: X (n, d) design, t (n,) or (n, k) targets, w (d,) or (d, k) weights.

Every solution here is a *solve* (``torch.linalg.solve`` / ``lstsq`` / SVD), never an explicit
inverse: forming (XᵀX)⁻¹ squares the condition number's effect on rounding for no gain.

    least squares      w = argmin ‖t − Xw‖²            (XᵀX) w = Xᵀt
    ridge / MAP        w = argmin ‖t − Xw‖² + λ‖w‖²     (XᵀX + λI) w = Xᵀt,  λ = σ²/σ_w²
    augmented LS       ridge = least squares on [X; √λ·I], [t; 0]
    min-norm           w = X⁺t = V Σ⁺ Uᵀ t              (the GD limit from w = 0 when d > n)
    dropout ridge      E_mask ‖t − X(m⊙w)/p‖² = ‖t − Xw‖² + (1−p)/p·‖Γw‖²,  Γ = diag(‖X_{:,j}‖)
    input-noise ridge  E_ε ‖t − (X+ε)w‖² = ‖t − Xw‖² + nσ²‖w‖²   (λ = nσ² summed, σ² for the mean)
"""

from __future__ import annotations

import torch


def _check(X: torch.Tensor, t: torch.Tensor) -> None:
    if X.ndim != 2:
        raise ValueError(f"X must be (n, d), got shape {tuple(X.shape)}")
    if t.shape[0] != X.shape[0]:
        raise ValueError(f"t has {t.shape[0]} rows but X has {X.shape[0]}")


def normal_equations(X: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Least squares by solving (XᵀX) w = Xᵀt (needs full column rank)."""
    _check(X, t)
    return torch.linalg.solve(X.T @ X, X.T @ t)


def least_squares(X: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Least squares by ``torch.linalg.lstsq``, the numerically preferred route. On CPU the SVD driver
    ``gelsd``: LAPACK's default ``gelsy`` changes its last bits with the memory alignment of its inputs, so
    two runs of one seed could differ (CUDA has only ``gels``)."""
    _check(X, t)
    driver = "gelsd" if X.device.type == "cpu" else None
    return torch.linalg.lstsq(X, t.unsqueeze(-1) if t.ndim == 1 else t, driver=driver).solution.reshape(
        X.shape[1], *t.shape[1:]
    )


def ridge(X: torch.Tensor, t: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """Ridge: solve (XᵀX + λI) w = Xᵀt. ``lam`` may be a scalar or a (d,) diagonal."""
    _check(X, t)
    d = X.shape[1]
    reg = torch.diag(torch.as_tensor(lam, dtype=X.dtype, device=X.device).expand(d))
    return torch.linalg.solve(X.T @ X + reg, X.T @ t)


def ridge_augmented(X: torch.Tensor, t: torch.Tensor, lam: float) -> torch.Tensor:
    """Ridge as plain least squares on data augmented with √λ·I rows and zero targets."""
    _check(X, t)
    d = X.shape[1]
    Xa = torch.cat([X, (lam**0.5) * torch.eye(d, dtype=X.dtype, device=X.device)])
    ta = torch.cat([t, torch.zeros(d, *t.shape[1:], dtype=t.dtype, device=t.device)])
    return least_squares(Xa, ta)


def min_norm(X: torch.Tensor, t: torch.Tensor, rcond: float = 1e-12) -> torch.Tensor:
    """The minimum-norm least-squares solution X⁺t through the SVD."""
    _check(X, t)
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    keep = rcond * S.max() < S
    inv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    return Vh.T @ (inv.unsqueeze(-1) * (U.T @ t.reshape(X.shape[0], -1))).reshape(len(S), *t.shape[1:])


def dropout_penalty_diag(X: torch.Tensor, keep: float) -> torch.Tensor:
    """The (d,) diagonal (1−p)/p·Γ² of the dropout-equivalent ridge, Γ_jj = ‖X_{:,j}‖, p = keep."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep probability must be in (0, 1], got {keep}")
    return (1 - keep) / keep * (X**2).sum(0)


def dropout_expected_loss(X: torch.Tensor, t: torch.Tensor, w: torch.Tensor, keep: float) -> torch.Tensor:
    """‖t − Xw‖² + (1−p)/p·‖Γw‖²: the expected summed squared error under inverted input dropout."""
    _check(X, t)
    return ((t - X @ w) ** 2).sum() + (dropout_penalty_diag(X, keep) * w**2).sum()


def dropout_ridge(X: torch.Tensor, t: torch.Tensor, keep: float) -> torch.Tensor:
    """The minimizer of :func:`dropout_expected_loss`: ridge with the diagonal (1−p)/p·Γ²."""
    return ridge(X, t, dropout_penalty_diag(X, keep))


def noise_ridge_lambda(n: int, sigma: float, reduction: str = "sum") -> float:
    """λ equivalent to fresh N(0, σ²) input noise: nσ² for the summed loss, σ² for the mean."""
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    return n * sigma**2 if reduction == "sum" else sigma**2


def gd_rate(eigenvalues: torch.Tensor, lr: float) -> float:
    """Per-step contraction max_i |1 − η λ_i| of GD on a quadratic with Hessian eigenvalues λ."""
    return float((1 - lr * eigenvalues).abs().max())


def optimal_step(eigenvalues: torch.Tensor) -> tuple[float, float]:
    """The fastest fixed step η* = 2/(λ_max + λ_min) and its rate (κ−1)/(κ+1)."""
    lmax, lmin = float(eigenvalues.max()), float(eigenvalues.min())
    kappa = lmax / lmin
    return 2.0 / (lmax + lmin), (kappa - 1) / (kappa + 1)
