"""Muon and Newton–Schulz against torch's own, the AdamW half against torch.optim.AdamW, the split helper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deltalab.optim.muon import Muon, MuonWithAdamW, muon_param_groups
from deltalab.optim.newton_schulz import NS_COEFFICIENTS, newton_schulz

SHAPES = [(32, 16), (16, 32), (24, 24)]


@pytest.mark.parametrize("shape", SHAPES)
def test_newton_schulz_equals_torch(shape: tuple[int, int]) -> None:
    from torch.optim._muon import _zeropower_via_newtonschulz

    G = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    ours = newton_schulz(G)
    ref = _zeropower_via_newtonschulz(G, NS_COEFFICIENTS, 5, 1e-7)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_newton_schulz_singular_values_in_band() -> None:
    g = torch.Generator().manual_seed(1)
    U, _ = torch.linalg.qr(torch.randn(64, 32, generator=g))
    V, _ = torch.linalg.qr(torch.randn(32, 32, generator=g))
    s = torch.logspace(0, -2, 32)
    G = U @ torch.diag(s) @ V.T
    out = newton_schulz(G, dtype=torch.float32)
    sv = torch.linalg.svdvals(out)
    assert sv.min() > 0.45 and sv.max() < 1.25, sv
    torch.testing.assert_close(newton_schulz(G, dtype=None, short_side=False), out, atol=1e-4, rtol=1e-4)


def test_newton_schulz_batched_and_bad_shape() -> None:
    G = torch.randn(3, 8, 5)
    out = newton_schulz(G, dtype=torch.float32)
    torch.testing.assert_close(out[1], newton_schulz(G[1], dtype=torch.float32))
    with pytest.raises(ValueError, match=r"\(7,\)"):
        newton_schulz(torch.randn(7))


@pytest.mark.parametrize("adjust_lr_fn", ["original", "match_rms_adamw"])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_muon_matches_torch_step_by_step(nesterov: bool, weight_decay: float, adjust_lr_fn: str) -> None:
    g = torch.Generator().manual_seed(2)
    init = [torch.randn(*s, generator=g) for s in SHAPES]
    grads = [[torch.randn(*s, generator=g) for s in SHAPES] for _ in range(5)]
    ours_p = [nn.Parameter(w.clone()) for w in init]
    ref_p = [nn.Parameter(w.clone()) for w in init]
    kw = dict(lr=0.02, weight_decay=weight_decay, momentum=0.95, nesterov=nesterov)
    ours = Muon(ours_p, adjust_lr_fn=adjust_lr_fn, ns_dtype=torch.bfloat16, **kw)  # torch's dtype
    ref = torch.optim.Muon(ref_p, adjust_lr_fn=adjust_lr_fn, **kw)
    for step_grads in grads:
        for p, q, gr in zip(ours_p, ref_p, step_grads):
            p.grad, q.grad = gr.clone(), gr.clone()
        ours.step()
        ref.step()
        for p, q in zip(ours_p, ref_p):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)


def test_combined_matches_torch_muon_and_adamw() -> None:
    g = torch.Generator().manual_seed(3)
    W0, b0 = torch.randn(20, 12, generator=g), torch.randn(20, generator=g)
    W, b = nn.Parameter(W0.clone()), nn.Parameter(b0.clone())
    Wr, br = nn.Parameter(W0.clone()), nn.Parameter(b0.clone())
    ours = MuonWithAdamW(
        [W, b], lr=0.02, weight_decay=0.05, adamw_lr=3e-3, adamw_weight_decay=0.01, ns_dtype=torch.bfloat16
    )
    ref_m = torch.optim.Muon([Wr], lr=0.02, weight_decay=0.05, adjust_lr_fn="original")
    ref_a = torch.optim.AdamW([br], lr=3e-3, weight_decay=0.01)
    for _ in range(4):
        gW, gb = torch.randn(20, 12, generator=g), torch.randn(20, generator=g)
        W.grad, b.grad, Wr.grad, br.grad = gW.clone(), gb.clone(), gW.clone(), gb.clone()
        ours.step()
        ref_m.step()
        ref_a.step()
        torch.testing.assert_close(W, Wr, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(b, br, rtol=1e-6, atol=1e-7)


def test_conv_weight_is_flattened() -> None:
    conv = nn.Parameter(torch.randn(8, 3, 3, 3))
    flat = nn.Parameter(conv.detach().reshape(8, 27).clone())
    a, b = Muon([conv], lr=0.1, weight_decay=0.0), Muon([flat], lr=0.1, weight_decay=0.0)
    gr = torch.randn(8, 3, 3, 3)
    conv.grad, flat.grad = gr.clone(), gr.reshape(8, 27).clone()
    a.step()
    b.step()
    torch.testing.assert_close(conv.detach().reshape(8, 27), flat.detach(), rtol=0, atol=0)


def test_param_split() -> None:
    model = nn.Sequential(
        nn.Embedding(10, 8),
        nn.Linear(8, 16),
        nn.LayerNorm(16),
        nn.Linear(16, 16),
        nn.Conv1d(16, 4, 3),
        nn.Linear(4, 5),
    )
    muon, other = muon_param_groups(model)
    assert muon["use_muon"] and not other["use_muon"]
    ids = {id(p) for p in muon["params"]}
    assert ids == {id(model[1].weight), id(model[3].weight), id(model[4].weight)}
    assert len(muon["params"]) + len(other["params"]) == len(list(model.parameters()))
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    assert [p.shape for p in muon_param_groups(mlp)[0]["params"]] == [(8, 8)]
    assert len(muon_param_groups(mlp, inputs=())[0]["params"]) == 2
    opt = MuonWithAdamW([muon, other])
    x = torch.randint(0, 10, (4, 3))
    h = model[:4](x).transpose(1, 2)
    model[5](model[4](torch.cat([h, h], -1)).mean(-1)).sum().backward()
    opt.step()


def test_groups_need_flag() -> None:
    with pytest.raises(ValueError, match="use_muon"):
        MuonWithAdamW([{"params": [nn.Parameter(torch.zeros(2, 2))]}])


# Steepest descent: each optimizer's direction attains the dual norm of its gradient under its own
# norm (identities, hence tests rather than bars of the scale-invariance claim).


def test_uv_is_spectral_steepest_descent() -> None:
    """⟨G, UVᵀ⟩ = ‖G‖_* (the spectral norm's dual) with ‖UVᵀ‖₂ = 1; other unit-norm directions get less."""
    g = torch.Generator().manual_seed(4)
    G = torch.randn(64, 32, generator=g)
    u, s, vh = torch.linalg.svd(G, full_matrices=False)
    uv = u @ vh
    torch.testing.assert_close(torch.linalg.matrix_norm(uv, 2), torch.tensor(1.0))
    torch.testing.assert_close((G * uv).sum(), s.sum(), rtol=1e-6, atol=0)
    for _ in range(20):
        d = torch.randn(64, 32, generator=g)
        assert (G * d).sum() / torch.linalg.matrix_norm(d, 2) < s.sum()
    ns = newton_schulz(G, dtype=torch.float32)  # Muon's NS₅ direction: most of the way there
    assert 0.5 < ((G * ns).sum() / (torch.linalg.matrix_norm(ns, 2) * s.sum())).item() < 1.0


def test_sign_is_linf_steepest_descent() -> None:
    """SignSGD's step is −η·sign(g): it attains ‖g‖₁ = max ⟨g, d⟩ over ‖d‖∞ ≤ 1."""
    from deltalab.optim.sign import SignSGD

    g = torch.Generator().manual_seed(5)
    grad = torch.randn(50, generator=g)
    w = nn.Parameter(torch.zeros(50))
    w.grad = grad.clone()
    SignSGD([w], lr=0.1).step()
    d = -w.detach() / 0.1
    torch.testing.assert_close(d, grad.sign())
    torch.testing.assert_close((grad * d).sum(), grad.abs().sum())
    for _ in range(20):
        r = torch.rand(50, generator=g) * 2 - 1  # ‖r‖∞ ≤ 1
        assert (grad * r).sum() < grad.abs().sum()


def test_adam_is_diagonal_steepest_descent() -> None:
    """Adam's step m̂/(√v̂ + ε) is the steepest-descent direction for m̂ under the diagonal norm
    ‖d‖_D² = Σ √v̂ᵢ dᵢ², attaining the dual ‖m̂‖_{D⁻¹}; at step 1 (ε ≈ 0) it is sign(g), ℓ∞'s."""
    g = torch.Generator().manual_seed(6)
    w = nn.Parameter(torch.zeros(40))
    opt = torch.optim.Adam([w], lr=0.1, eps=1e-16)
    grads = [torch.randn(40, generator=g) * (1 + 5 * k) for k in range(4)]
    m, v = torch.zeros(40), torch.zeros(40)
    for k, gr in enumerate(grads, start=1):
        before = w.detach().clone()
        w.grad = gr.clone()
        opt.step()
        d = -(w.detach() - before) / 0.1
        m, v = 0.9 * m + 0.1 * gr, 0.999 * v + 0.001 * gr**2
        m_hat, root_v = m / (1 - 0.9**k), (v / (1 - 0.999**k)).sqrt()
        if k == 1:
            torch.testing.assert_close(d, gr.sign())
        dual = (m_hat**2 / root_v).sum().sqrt()  # ‖m̂‖_{D⁻¹}
        norm_d = (root_v * d**2).sum().sqrt()
        torch.testing.assert_close((m_hat * d).sum() / norm_d, dual, rtol=1e-5, atol=0)
        for _ in range(10):
            r = torch.randn(40, generator=g)
            assert (m_hat * r).sum() / (root_v * r**2).sum().sqrt() < dual


def test_auto_ns_dtype_follows_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "auto" (the default) is bf16 only where bf16 matmuls are native: float32 on a CPU without the flags."""
    from deltalab.optim import newton_schulz as ns

    W = nn.Parameter(torch.randn(8, 6, generator=torch.Generator().manual_seed(0)))
    W.grad = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    steps = {}
    for flags, name in (({"avx2"}, "plain"), ({"avx2", "avx512_bf16"}, "bf16")):
        monkeypatch.setattr(ns, "_cpu_flags", lambda f=flags: set(f))
        ns.native_bf16.cache_clear()
        assert ns.auto_dtype("cpu") == (torch.bfloat16 if name == "bf16" else torch.float32)
        p = nn.Parameter(W.detach().clone())
        p.grad = W.grad.clone()
        Muon([p], lr=0.1).step()
        steps[name] = p.detach().clone()
    ns.native_bf16.cache_clear()
    for dtype, name in ((torch.float32, "plain"), (torch.bfloat16, "bf16")):
        p = nn.Parameter(W.detach().clone())
        p.grad = W.grad.clone()
        Muon([p], lr=0.1, ns_dtype=dtype).step()
        assert torch.equal(p, steps[name])
    with pytest.raises(ValueError, match="ns_dtype"):
        Muon([nn.Parameter(torch.zeros(3, 3))], ns_dtype="bf16")
