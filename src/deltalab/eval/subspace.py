"""Principal angles between subspaces (Björck & Golub, "Numerical methods for computing angles
between linear subspaces", Math. Comp. 1973): orthonormalize both bases by QR, the cosines of the
angles are the singular values of Q_Aᵀ Q_B. Used to compare an autoencoder's span with PCA's.

Departure: angles from arccos of clamped singular values (fine above ~1e-4 rad, which is the scale
of the bars here; scipy's ``subspace_angles`` also uses the sine form for tiny angles).
"""

from __future__ import annotations

import torch


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between span(a) and span(b); a: (d, k), b: (d, l)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"expected bases (d, k) and (d, l) with the same d, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)  # cosines, descending
    cos_angles = torch.arccos(s)
    if a.shape[1] != b.shape[1]:
        return cos_angles
    # Equal dimensions: sin θ_i are the singular values of (I − Q_A Q_Aᵀ) Q_B (accurate near 0).
    sines = torch.linalg.svdvals(qb - qa @ (qa.T @ qb)).flip(0)[: len(s)].clamp(0.0, 1.0)
    return torch.where(cos_angles < 0.5, torch.arcsin(sines), cos_angles)
