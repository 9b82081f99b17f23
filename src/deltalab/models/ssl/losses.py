"""The losses of self-supervised and metric learning, each a plain function of embeddings.

- Contrastive (Siamese) loss — Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an
  Invariant Mapping" (CVPR 2006): L = ½(1−Y)·D² + ½Y·max(0, m − D)², Y = 1 for a dissimilar pair.
- NT-Xent — Chen et al., SimCLR, arXiv:2002.05709, eq. (1): for the 2N views z (L2-normalized),
  ℓ(i, j) = −log exp(sim(z_i, z_j)/τ) / Σ_{k≠i} exp(sim(z_i, z_k)/τ), averaged over all 2N anchors.
- BYOL's normalized regression — Grill et al., arXiv:2006.07733, eq. (2):
  L = ‖p̄ − z̄‖² = 2 − 2·cos(p, z) with the target z detached; symmetrized over the two views.
- CLIP's symmetric cross-entropy — Radford et al., arXiv:2103.00020, Fig. 3:
  logits = s·I·Tᵀ (unit rows), L = ½(CE(logits, diag) + CE(logitsᵀ, diag)).

Shapes: N pairs, D embedding size. Departures: none in the formulas; every loss is a mean over the
batch (the papers sum or average the same way up to a constant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(
            f"{names} must both be (N, D) with the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def contrastive_loss(distance: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """½(1−Y)·D² + ½Y·max(0, m−D)², averaged; ``target`` Y is 1 for a dissimilar pair, 0 for similar.

    distance: (N,) Euclidean distances D between the twin embeddings; target: (N,) in {0, 1}.
    """
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    if distance.shape != target.shape:
        raise ValueError(
            f"distance and target must have the same shape, got {tuple(distance.shape)} and {tuple(target.shape)}"
        )
    y = target.to(distance.dtype)
    return (0.5 * (1 - y) * distance.pow(2) + 0.5 * y * F.relu(margin - distance).pow(2)).mean()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent over the 2N views: z1[i] and z2[i] are the positive pair, every other view a negative.

    z1, z2: (N, D) projections (normalized here). Returns the mean over the 2N anchors.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    _check_pair(z1, z2, "z1 and z2")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
    logits = z @ z.T / temperature  # (2N, 2N)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # positive of i
    return F.cross_entropy(logits, target)


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """2 − 2·cos(p, z), averaged; the target ``z`` is detached (no gradient flows to the target)."""
    _check_pair(p, z, "p and z")
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


def symmetric_byol_loss(
    p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor
) -> torch.Tensor:
    """BYOL's symmetrized loss: view 1's prediction regresses view 2's target and vice versa."""
    return byol_loss(p1, z2) + byol_loss(p2, z1)


def clip_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """Symmetric cross-entropy over the N×N image–text similarities scaled by ``logit_scale``.

    image_emb, text_emb: (N, D), row i of each is a matching pair (normalized here).
    logit_scale: s = exp(learned log-scale) = 1/temperature, already clamped by the caller.
    """
    _check_pair(image_emb, text_emb, "image_emb and text_emb")
    i = F.normalize(image_emb, dim=1)
    t = F.normalize(text_emb, dim=1)
    logits = logit_scale * i @ t.T  # (N, N)
    target = torch.arange(len(i), device=i.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
