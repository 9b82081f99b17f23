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
   without them (e.g. the lab host of Nov 2026: ~1 GFLOP/s) pass ``dtype=torch.float32``;
   :func:`auto_dtype` makes that choice for a device (the optimizers' default).
2. Leading batch dimensions are allowed: (..., m, n) is orthogonalized matrix by matrix.
"""

from __future__ import annotations

import functools
import sys

import torch
from torch import Tensor

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 matmul on x86


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    if not sys.platform.startswith("linux"):
        return set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether bf16 matmuls run natively on this machine's ``device_type`` ("cpu", "cuda", ...).

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: the avx512_bf16 or amx_bf16 flag (Linux x86);
    without it oneDNN emulates bf16 at ~1 GFLOP/s, two orders below fp32 (PITFALLS: machines of one
    kind differ here). Other devices and platforms: False (the safe answer: fp32 is never slow).
    A flag check, not a timing probe, so the choice, and with it every number, is deterministic.
    """
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return bool(_cpu_flags() & set(BF16_CPU_FLAGS))
    return False


def auto_dtype(device: torch.device | str) -> torch.dtype:
    """The Newton–Schulz matmul dtype for ``device``: bf16 where it is native, float32 elsewhere."""
    return torch.bfloat16 if native_bf16(torch.device(device).type) else torch.float32


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
