"""Linear state-space layers: the SSM kernel four ways, FFT convolution, and an S4D-style layer.

Papers: Gu, Goel & Ré, "Efficiently Modeling Long Sequences with Structured State Spaces" (S4,
arXiv:2111.00396); Gu, Gupta, Goel & Ré, "On the Parameterization and Initialization of Diagonal
State Space Models" (S4D, arXiv:2206.11893).

A discrete linear SSM with scalar input and output (one channel)

    x_{k+1} = A x_k + B u_k,      y_k = C x_k + D u_k,      x_0 = 0

is a causal convolution y = K * u with K_0 = D and K_j = C A^{j-1} B (j >= 1). The kernel here is
computed four ways that must agree (on stable spectra):

1. ``kernel_recurrence``: x <- A x, one matrix-vector product per lag, O(L·N²).
2. ``kernel_squaring``: the Krylov block [B, AB, ..., A^{m-1}B] doubled with A^m (and A^m squared):
   O(log L) matrix products.
3. ``kernel_diagonal``: A = diag(λ) (complex): K_j = Σ_n C_n λ_n^{j-1} B_n, a Vandermonde product in
   O(N·L).
4. ``kernel_low_rank``: A = a·I + b·ppᵀ, whose powers have the closed form
   A^k = a^k I + ((a + b‖p‖²)^k − a^k)/‖p‖² · ppᵀ, so K_j costs O(1) after two dot products.

``fft_conv`` applies a kernel by FFT with length-2L zero padding (so the circular convolution equals
the linear one); ``ssm_scan`` runs the recurrence step by step (the reference and the baseline).

``S4DLayer``: H independent channels, each a diagonal SSM with N/2 complex conjugate pairs,
A_n = −1/2 + iπn (S4D-Lin), zero-order-hold discretization with a learned log step Δ:
Ā = exp(ΔA), B̄ = (exp(ΔA) − 1)/A · B; y = GELU(K * u + D u), then a pointwise linear mix.

Departures:
1. The layer's kernel uses the same convention as above (K_0 = D, one step of delay through the
   state); S4D puts C B̄ at lag 0 and D separately. It is a one-step shift, immaterial for learning.
2. The log-step is initialised log-uniform in [dt_min, dt_max] = [1e-4, 1e-1] (S4D uses 1e-3 as the
   lower end; long tasks in the S4 code use 1e-4).
3. The notes' closed form for A = I + ppᵀ is the case a = b = 1 here: its spectral radius is
   1 + ‖p‖² > 1, so its kernel grows without bound and no two methods agree for long L; the
   general a, b form is what is tested.

Legend: B batch, H channels, N state size, L sequence length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.nn.shapes import check_shape


def powers(z: torch.Tensor, n: int) -> torch.Tensor:
    """z^0, ..., z^{n-1} along a new last axis by doubling: (...,) -> (..., n), O(log n) products.

    Exact integer powers (no complex log/exp), so a zero or negative z is fine.
    """
    out = torch.ones(*z.shape, 1, dtype=z.dtype, device=z.device)  # (..., m), m = 1
    zm = z.unsqueeze(-1)  # z^m
    while out.shape[-1] < n:
        out = torch.cat([out, out * zm], dim=-1)
        zm = zm * zm
    return out[..., :n]


def _check_abcd(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, L: int) -> int:
    if A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square (N, N) matrix, got shape {tuple(A.shape)}")
    n = A.shape[0]
    if B.shape != (n,) or C.shape != (n,):
        raise ValueError(f"B and C must have shape ({n},), got {tuple(B.shape)} and {tuple(C.shape)}")
    if L < 1:
        raise ValueError(f"kernel length L must be >= 1, got {L}")
    return n


def kernel_recurrence(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: float, L: int) -> torch.Tensor:
    """K (L,) by iterating x <- A x from x = B: K_0 = D, K_j = C A^{j-1} B."""
    _check_abcd(A, B, C, L)
    out = [torch.as_tensor(D, dtype=B.dtype)]
    x = B
    for _ in range(1, L):
        out.append(C @ x)
        x = A @ x
    return torch.stack(out)


def kernel_squaring(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: float, L: int) -> torch.Tensor:
    """K (L,) from the Krylov block V = [B, AB, ..., A^{m-1}B] doubled as [V, A^m V]; A^{2m} = (A^m)²."""
    _check_abcd(A, B, C, L)
    V = B.unsqueeze(1)  # (N, m), m = 1
    P = A  # A^m
    while V.shape[1] < L - 1:
        V = torch.cat([V, P @ V], dim=1)  # (N, 2m)
        P = P @ P
    K = C @ V[:, : L - 1]  # (L-1,)
    return torch.cat([torch.as_tensor(D, dtype=K.dtype).reshape(1), K])


def kernel_diagonal(lam: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: float, L: int) -> torch.Tensor:
    """K (L,) for A = diag(lam): K_j = Σ_n C_n lam_n^{j-1} B_n, via the (N, L-1) Vandermonde matrix.

    Complex ``lam`` give a complex kernel; take ``.real`` (or 2·Re for conjugate pairs) outside.
    """
    if lam.dim() != 1 or B.shape != lam.shape or C.shape != lam.shape:
        raise ValueError(
            f"lam, B, C must be (N,) vectors, got {tuple(lam.shape)}, {tuple(B.shape)}, {tuple(C.shape)}"
        )
    if L < 1:
        raise ValueError(f"kernel length L must be >= 1, got {L}")
    vander = powers(lam, L - 1)  # (N, L-1): lam_n^j
    dtype = torch.promote_types(torch.promote_types(lam.dtype, B.dtype), C.dtype)
    K = (C * B).to(dtype) @ vander.to(dtype)  # (L-1,)
    return torch.cat([torch.as_tensor(D, dtype=K.dtype).reshape(1), K])


def kernel_low_rank(
    a: float, b: float, p: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: float, L: int
) -> torch.Tensor:
    """K (L,) for A = a·I + b·ppᵀ by the closed form of A^k (rank-one update of a scaled identity).

    A^k = a^k I + ((a + b s)^k − a^k)/s · ppᵀ with s = ‖p‖², so
    K_j = a^{j-1} C·B + ((a + b s)^{j-1} − a^{j-1})/s · (C·p)(p·B).
    """
    if p.dim() != 1 or B.shape != p.shape or C.shape != p.shape:
        raise ValueError(
            f"p, B, C must be (N,) vectors, got {tuple(p.shape)}, {tuple(B.shape)}, {tuple(C.shape)}"
        )
    if L < 1:
        raise ValueError(f"kernel length L must be >= 1, got {L}")
    s = p @ p
    if s == 0:
        raise ValueError("p must be nonzero (A = a·I + b·ppᵀ with ‖p‖ > 0)")
    k = torch.arange(L - 1, dtype=p.dtype, device=p.device)
    ak = torch.as_tensor(a, dtype=p.dtype) ** k
    mk = torch.as_tensor(a + b * float(s), dtype=p.dtype) ** k
    K = ak * (C @ B) + (mk - ak) / s * (C @ p) * (p @ B)  # (L-1,)
    return torch.cat([torch.as_tensor(D, dtype=K.dtype).reshape(1), K])


def low_rank_matrix(a: float, b: float, p: torch.Tensor) -> torch.Tensor:
    """A = a·I + b·ppᵀ (N, N), the matrix ``kernel_low_rank`` assumes."""
    return a * torch.eye(p.shape[0], dtype=p.dtype, device=p.device) + b * torch.outer(p, p)


def fft_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Causal convolution y_k = Σ_{j<=k} K_j u_{k-j} by FFT, zero-padded to 2L (no wrap-around).

    u: (..., L) and K: (..., L) broadcastable (e.g. u (B, H, L), K (H, L)) -> y (..., L).
    """
    L = u.shape[-1]
    if K.shape[-1] != L:
        raise ValueError(f"kernel length must equal the sequence length {L}, got {K.shape[-1]}")
    n = 2 * L
    y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)
    return y[..., :L]


def ssm_scan(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: float, u: torch.Tensor) -> torch.Tensor:
    """Run the recurrence step by step: u (Bt, L) -> y (Bt, L) (the reference for ``fft_conv``)."""
    _check_abcd(A, B, C, u.shape[-1])
    x = u.new_zeros(u.shape[0], A.shape[0])  # (Bt, N)
    ys = []
    for k in range(u.shape[-1]):
        ys.append(x @ C + D * u[:, k])
        x = x @ A.T + u[:, k : k + 1] * B
    return torch.stack(ys, dim=-1)


class S4DLayer(nn.Module):
    """H channels of diagonal SSMs (S4D-Lin init, ZOH discretization), FFT convolution, GELU, mix.

    u (B, H, L) -> y (B, H, L):  y = W · GELU(K * u + D u) + b,  K_h from
    Ā = exp(Δ_h A_h), B̄ = (Ā − 1)/A_h · B_h,  K_{h,0} = 0 (D is applied apart), K_{h,j} = 2 Re(C_h Ā^{j-1} B̄).
    ``forward(u, mode="scan")`` runs the same layer as a recurrence (slow; the reference);
    ``mode="last"`` returns only the last step, (B, H, 1), as a dot product with the kernel (for a
    readout that needs no other step: O(H·L) instead of an FFT convolution of every step).
    """

    def __init__(self, embed_dim: int, d_state: int = 32, dt_min: float = 1e-4, dt_max: float = 1e-1) -> None:
        super().__init__()
        if embed_dim < 1 or d_state < 2 or d_state % 2:
            raise ValueError(f"need embed_dim >= 1 and an even d_state >= 2, got {embed_dim}, {d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        H, N2 = embed_dim, d_state // 2
        self.log_dt = nn.Parameter(
            torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        )  # (H,)
        self.log_A_real = nn.Parameter(torch.full((H, N2), math.log(0.5)))  # Re A = -exp(.) = -1/2
        self.A_imag = nn.Parameter(math.pi * torch.arange(N2).float().expand(H, N2).clone())  # (H, N/2)
        self.B = nn.Parameter(torch.ones(H, N2, dtype=torch.cfloat))
        self.C = nn.Parameter(torch.randn(H, N2, dtype=torch.cfloat) * math.sqrt(0.5))
        self.D = nn.Parameter(torch.randn(H))
        self.out = nn.Linear(H, H)

    def _a_and_dt_a(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, ΔA), each (H, N/2) complex: the continuous diagonal and its step-scaled exponent."""
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag  # (H, N/2)
        return A, torch.exp(self.log_dt).unsqueeze(-1) * A

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Ā, B̄), each (H, N/2) complex, by zero-order hold."""
        A, dtA = self._a_and_dt_a()
        Ab = torch.exp(dtA)
        return Ab, (Ab - 1) / A * self.B

    def kernel(self, L: int) -> torch.Tensor:
        """K (H, L) with K_0 = 0 (the D skip is added apart).

        Ā^j = exp(jΔA) is formed from real exp, cos and sin (vectorized; complex products are slow
        on CPU): 2 Re(c Ā^j) = 2 e^{j Re ΔA} (Re c cos(j Im ΔA) − Im c sin(j Im ΔA)), c = C B̄.
        """
        A, dtA = self._a_and_dt_a()
        c = self.C * (torch.exp(dtA) - 1) / A * self.B  # (H, N/2)
        j = torch.arange(L - 1, device=dtA.device, dtype=dtA.real.dtype)
        mag = torch.exp(dtA.real.unsqueeze(-1) * j)  # (H, N/2, L-1)
        phase = dtA.imag.unsqueeze(-1) * j
        K = 2 * (
            mag * (c.real.unsqueeze(-1) * torch.cos(phase) - c.imag.unsqueeze(-1) * torch.sin(phase))
        ).sum(1)
        return F.pad(K, (1, 0))  # (H, L)

    def forward(self, u: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        if u.dim() != 3 or u.shape[1] != self.D.shape[0]:
            raise ValueError(f"expected u of shape (B, {self.D.shape[0]}, L), got {tuple(u.shape)}")
        if mode == "fft":
            y = fft_conv(u, self.kernel(u.shape[-1]))
        elif mode == "scan":
            y = self._scan(u)
        elif mode == "last":
            # y_{L-1} = Σ_i K_{L-1-i} u_i: one dot product per channel instead of L outputs by FFT
            y = torch.einsum("bhl,hl->bh", u, self.kernel(u.shape[-1]).flip(-1)).unsqueeze(-1)  # (B, H, 1)
            u = u[:, :, -1:]
        else:
            raise ValueError(f"mode must be 'fft', 'scan' or 'last', got {mode!r}")
        y = F.gelu(y + self.D.unsqueeze(-1) * u)  # (B, H, L), or (B, H, 1) for mode="last"
        return self.out(y.transpose(1, 2)).transpose(1, 2)

    def _scan(self, u: torch.Tensor) -> torch.Tensor:
        Ab, Bb = self.discrete()
        C2 = 2 * self.C
        x = torch.zeros(u.shape[0], *Ab.shape, dtype=Ab.dtype, device=u.device)  # (B, H, N/2)
        ys = []
        for k in range(u.shape[-1]):
            ys.append((x * C2).sum(-1).real)  # (B, H)
            x = Ab * x + Bb * u[:, :, k : k + 1]
        return torch.stack(ys, dim=-1)


class S4DModel(nn.Module):
    """Sequence classifier/regressor: pointwise encoder, ``num_layers`` residual S4D layers, readout.

    x (B, L, in_features) -> (B, out_features), read from the last time step.
    """

    def __init__(
        self, in_features: int, out_features: int, embed_dim: int = 32, d_state: int = 32, num_layers: int = 2
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(in_features, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim)
        )
        self.layers = nn.ModuleList(S4DLayer(embed_dim, d_state) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dim) for _ in range(num_layers))
        self.head = nn.Linear(embed_dim, out_features)

    def forward(self, x: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        """``mode`` "fft" or "scan" runs every layer so; "last" runs the last layer at the last step
        only (the readout reads nothing else, so the output is the same, to rounding)."""
        check_shape(x, "x", ("B", "L", self.encoder[0].in_features))
        if mode not in ("fft", "scan", "last"):
            raise ValueError(f"mode must be 'fft', 'scan' or 'last', got {mode!r}")
        h = self.encoder(x).transpose(1, 2)  # (B, H, L)
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            if mode == "last" and i == len(self.layers) - 1:
                h = h[:, :, -1:] + layer(norm(h.transpose(1, 2)).transpose(1, 2), mode="last")  # (B, H, 1)
            else:
                h = h + layer(norm(h.transpose(1, 2)).transpose(1, 2), mode="fft" if mode == "last" else mode)
        return self.head(h[:, :, -1])  # (B, out)
