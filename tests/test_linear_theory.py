"""Chapter L pieces: closed forms, synthetic data, the perceptron and the delta-rule network."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from deltalab.data.synthetic import regression, separable_blobs
from deltalab.models.delta_rule import DeltaRuleMLP
from deltalab.models.perceptron import Perceptron
from deltalab.theory import likelihood as lk
from deltalab.theory import linear as th


@settings(max_examples=25, deadline=None)
@given(n=st.integers(12, 60), d=st.integers(1, 10), lam=st.floats(1e-3, 10.0), seed=st.integers(0, 10_000))
def test_ridge_forms_agree(n, d, lam, seed):
    X, t, _ = regression(n, d, generator=torch.Generator().manual_seed(seed))
    w = th.ridge(X, t, lam)
    torch.testing.assert_close(th.ridge_augmented(X, t, lam), w, rtol=1e-8, atol=1e-10)
    ref = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(X.numpy(), t.numpy()).coef_
    torch.testing.assert_close(w, torch.from_numpy(ref), rtol=1e-7, atol=1e-9)


def test_least_squares_bits_do_not_depend_on_memory_alignment():
    """The same inputs stored at different offsets give the same bits (LAPACK's default gelsy did not)."""
    g = torch.Generator().manual_seed(0)
    X, t = (
        torch.randn(300, 4, generator=g, dtype=torch.float64),
        torch.randn(300, generator=g, dtype=torch.float64),
    )
    solutions = set()
    for offset in range(8):
        Xo = torch.zeros(X.numel() + offset, dtype=X.dtype)[offset:].view_as(X).copy_(X)
        to = torch.zeros(t.numel() + offset, dtype=t.dtype)[offset:].copy_(t)
        solutions.add(tuple(th.least_squares(Xo, to).tolist()))
    assert len(solutions) == 1


def test_least_squares_forms_and_min_norm():
    X, t, _ = regression(50, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(th.normal_equations(X, t), th.least_squares(X, t), rtol=1e-9, atol=1e-12)
    Xw, tw, _ = regression(10, 30, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(th.min_norm(Xw, tw), torch.linalg.pinv(Xw) @ tw, rtol=1e-9, atol=1e-12)


def test_prescribed_spectrum_and_optimal_step():
    lam = torch.tensor([1.0, 2.0, 5.0, 10.0], dtype=torch.float64)
    X, _, _ = regression(40, 4, eigenvalues=lam, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.linalg.eigvalsh(X.T @ X / 40), lam)
    eta, rate = th.optimal_step(lam)
    assert eta == pytest.approx(2 / 11) and rate == pytest.approx(9 / 11)
    assert th.gd_rate(lam, eta) == pytest.approx(rate)


def test_dropout_expected_loss_matches_exact_enumeration():
    # Exact expectation over all 2^d masks of one row (d = 3), against the closed form.
    X = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    t = torch.tensor([0.3], dtype=torch.float64)
    w = torch.tensor([0.7, 0.1, -1.2], dtype=torch.float64)
    p = 0.6
    total = 0.0
    for bits in range(8):
        m = torch.tensor([(bits >> j) & 1 for j in range(3)], dtype=torch.float64)
        prob = float(torch.prod(torch.where(m > 0, torch.tensor(p, dtype=torch.float64), 1 - p)))
        total += prob * float(((t - (X * m / p) @ w) ** 2).sum())
    assert float(th.dropout_expected_loss(X, t, w, p)) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("bad", [0.0, 1.5])
def test_bad_keep_probability(bad):
    with pytest.raises(ValueError, match="keep probability"):
        th.dropout_penalty_diag(torch.ones(2, 2), bad)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"X must be \(n, d\)"):
        th.ridge(torch.ones(3), torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="rows"):
        th.least_squares(torch.ones(3, 2), torch.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        th.noise_ridge_lambda(10, 0.1, "avg")


def test_likelihood_offsets_are_constant():
    res = lk.offset_spreads(trials=20, generator=torch.Generator().manual_seed(0))
    assert all(v["spread"] < 1e-9 for v in res.values())
    assert res["bernoulli"]["offset"] == pytest.approx(0, abs=1e-9)


def test_perceptron_novikoff_bound_and_multiclass():
    g = torch.Generator().manual_seed(3)
    x, t, sep = separable_blobs(200, margin=0.15, generator=g)
    p = Perceptron(2)
    p.fit(x, t, max_epochs=500, generator=g)
    xb = torch.cat([torch.ones(200, 1), x], 1).double()
    R, gamma = float(xb.norm(dim=1).max()), float((t.double() * (xb @ sep.double())).min())
    assert (p.predict(x) == t.double()).all() and p.mistakes <= (R / gamma) ** 2
    pc = Perceptron(2, num_classes=3)
    xs = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 3.0]])
    pc.fit(xs, torch.tensor([0, 1, 2]), max_epochs=50)
    assert pc.predict(xs).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"x must be \(B, 2\)"):
        p.epoch(torch.ones(3, 5), torch.ones(3))


def test_delta_rule_equals_autograd_and_learns():
    g = torch.Generator().manual_seed(0)
    net = DeltaRuleMLP(5, 7, 3, generator=g)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=g)
    twin = net.to_torch()
    F.cross_entropy(twin(x), y).backward()
    d = net.deltas(x, y)
    for name, p in zip("wbvc", twin.parameters()):
        torch.testing.assert_close(-d[name], p.grad, rtol=1e-10, atol=1e-12)
    before = F.cross_entropy(net.to_torch()(x), y).item()
    for _ in range(200):
        net.step(x, y, lr=0.5)
    assert F.cross_entropy(net.to_torch()(x), y).item() < 0.5 * before
