"""SSM kernels: four ways agree with each other and with the scan; FFT conv equals the scan."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deltalab.nn.ssm import (
    S4DLayer,
    S4DModel,
    fft_conv,
    kernel_diagonal,
    kernel_low_rank,
    kernel_recurrence,
    kernel_squaring,
    low_rank_matrix,
    powers,
    ssm_scan,
)

F64 = torch.float64


def _stable(n: int, seed: int, radius: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=F64)
    A = A / torch.linalg.eigvals(A).abs().max() * radius
    return A, torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), L=st.integers(1, 200), seed=st.integers(0, 10_000), radius=st.floats(0.1, 0.98))
def test_kernels_agree(n: int, L: int, seed: int, radius: float) -> None:
    A, B, C = _stable(n, seed, radius)
    k_rec = kernel_recurrence(A, B, C, 0.7, L)
    assert k_rec.shape == (L,) and k_rec[0] == 0.7
    torch.testing.assert_close(kernel_squaring(A, B, C, 0.7, L), k_rec, atol=1e-5, rtol=0)
    lam, V = torch.linalg.eig(A)
    Bt, Ct = torch.linalg.solve(V, B.to(V.dtype)), C.to(V.dtype) @ V
    torch.testing.assert_close(kernel_diagonal(lam, Bt, Ct, 0.7, L).real, k_rec, atol=1e-5, rtol=0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), L=st.integers(1, 300), seed=st.integers(0, 10_000), a=st.floats(-0.95, 0.95))
def test_low_rank_closed_form(n: int, L: int, seed: int, a: float) -> None:
    g = torch.Generator().manual_seed(seed)
    p, B, C = (torch.randn(n, generator=g, dtype=F64) for _ in range(3))
    s = float(p @ p)
    b = (0.9 - a) / s * float(torch.rand(1, generator=g))  # a + b s stays in (-1, 1)
    A = low_rank_matrix(a, b, p)
    torch.testing.assert_close(
        kernel_low_rank(a, b, p, B, C, 0.0, L), kernel_recurrence(A, B, C, 0.0, L), atol=1e-5, rtol=0
    )


def test_notes_form_is_unstable() -> None:
    p = torch.full((4,), 0.5, dtype=F64)  # A = I + ppᵀ has spectral radius 1 + ‖p‖² = 2
    K = kernel_low_rank(1.0, 1.0, p, p, p, 0.0, 64)
    assert K[-1].abs() > 1e15


@settings(max_examples=15, deadline=None)
@given(L=st.integers(1, 150), seed=st.integers(0, 10_000))
def test_fft_conv_equals_scan(L: int, seed: int) -> None:
    A, B, C = _stable(5, seed, 0.95)
    u = torch.randn(3, L, generator=torch.Generator().manual_seed(seed), dtype=F64)
    torch.testing.assert_close(
        fft_conv(u, kernel_recurrence(A, B, C, 0.3, L)), ssm_scan(A, B, C, 0.3, u), atol=1e-5, rtol=0
    )


def test_powers() -> None:
    z = torch.tensor([0.0, -1.5, 0.5 + 0.5j], dtype=torch.complex128)
    ref = torch.stack(
        [torch.stack([z_i**k if k else torch.ones((), dtype=z.dtype) for k in range(9)]) for z_i in z]
    )
    torch.testing.assert_close(powers(z, 9), ref)  # 0^0 = 1 here (complex pow would give NaN)


def test_s4d_layer_fft_equals_scan_and_backward() -> None:
    torch.manual_seed(0)
    layer = S4DLayer(4, 8).double()
    u = torch.randn(2, 4, 60, dtype=F64)
    y = layer(u)
    torch.testing.assert_close(y, layer(u, mode="scan"), atol=1e-8, rtol=0)
    y.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


def test_s4d_model_shapes() -> None:
    m = S4DModel(2, 1, embed_dim=8, d_state=4)
    out = m(torch.randn(3, 20, 2))
    assert out.shape == (3, 1) and torch.isfinite(out).all()


def test_bad_values() -> None:
    with pytest.raises(ValueError, match="even d_state"):
        S4DLayer(4, 3)
    with pytest.raises(ValueError, match="square"):
        kernel_recurrence(torch.zeros(2, 3), torch.zeros(2), torch.zeros(2), 0.0, 4)
    with pytest.raises(ValueError, match="kernel length"):
        fft_conv(torch.zeros(2, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="mode"):
        S4DLayer(2, 2)(torch.zeros(1, 2, 4), mode="bogus")


def test_benchmarks_run_tiny() -> None:
    from deltalab.bench.sequence import lstm_cell_at, ssm_fft_vs_scan_at

    r = ssm_fft_vs_scan_at(L=32, embed_dim=2, d_state=2, repeats=2)
    assert r.candidate > 0 and r.baseline > 0
    r = lstm_cell_at(T=3, batch=2, hidden_size=4, repeats=2)
    assert r.candidate > 0 and r.baseline > 0


def test_remember_first_noise_option() -> None:
    from deltalab.data.seq_extra import remember_first

    clean = remember_first(64, 40, shown=10, generator=torch.Generator().manual_seed(3))
    same = remember_first(64, 40, shown=10, generator=torch.Generator().manual_seed(3), noise=0.0)
    torch.testing.assert_close(clean.x, same.x)  # noise 0 draws nothing extra: default unchanged
    torch.testing.assert_close(clean.y, same.y)
    noisy = remember_first(64, 40, shown=10, generator=torch.Generator().manual_seed(3), noise=2.0)
    assert torch.equal(noisy.y, clean.y) and noisy.x.shape == clean.x.shape == (64, 40, 5)
    d = noisy.x - clean.x
    assert torch.equal(d[:, :, 4], torch.zeros(64, 40))  # the query channel stays clean
    assert torch.equal(d[:, -1], torch.zeros(64, 5))  # the query step carries no noise
    assert 1.8 < d[:, :-1, :4].std().item() < 2.2  # noise everywhere else, cue and gap alike
    # the cue is recoverable by summing the shown steps: the mean picks the class
    assert (noisy.x[:, :10, :4].mean(1).argmax(-1) == noisy.y).float().mean() > 0.5
    with pytest.raises(ValueError, match="noise"):
        remember_first(2, 10, noise=-1.0)
