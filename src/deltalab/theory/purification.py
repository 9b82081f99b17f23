"""Linear purification: the closed form of the ridge-regularized linear autoencoder with a full map.

    W* = argmin_W ‖X − WX‖²_F + λ‖W‖²_F = XXᵀ(XXᵀ + λI)⁻¹ = U·diag(σᵢ²/(σᵢ² + λ))·Uᵀ

with X = U·diag(σ)·Vᵀ (X is D×N, columns are examples). Setting the gradient 2(WX − X)Xᵀ + 2λW to
zero gives W(XXᵀ + λI) = XXᵀ; in the eigenbasis of XXᵀ = U·diag(σ²)·Uᵀ each direction is shrunk by
σ²/(σ² + λ): strong directions pass, weak (noise) directions are damped — the "purification".
"""

from __future__ import annotations

import torch


def purification_closed_form(x: torch.Tensor, lam: float) -> torch.Tensor:
    """W* = U·diag(σ²/(σ²+λ))·Uᵀ (D, D) for data x (D, N) (columns are examples)."""
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    if x.dim() != 2:
        raise ValueError(f"x must be (D, N), got {tuple(x.shape)}")
    u, s, _ = torch.linalg.svd(x, full_matrices=True)
    sig2 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    sig2[: len(s)] = s**2
    return u @ torch.diag(sig2 / (sig2 + lam)) @ u.T


def purification_loss(w: torch.Tensor, x: torch.Tensor, lam: float) -> torch.Tensor:
    """‖X − WX‖²_F + λ‖W‖²_F."""
    return (x - w @ x).pow(2).sum() + lam * w.pow(2).sum()
