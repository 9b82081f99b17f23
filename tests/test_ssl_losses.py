import math

import pytest
import torch
import torch.nn.functional as F

from deltalab.models.ssl.losses import byol_loss, clip_loss, contrastive_loss, nt_xent, symmetric_byol_loss


@pytest.mark.parametrize("n", [2, 5, 16])
def test_nt_xent_identical_embeddings_give_log_2n_minus_1(n):
    z = torch.randn(1, 8).expand(n, 8)
    assert nt_xent(z, z, temperature=0.3).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_orthogonal_negatives_closed_form(tau):
    n = 4
    z = torch.eye(8, dtype=torch.float64)[:n]  # positives identical, every other view orthogonal
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert nt_xent(z, z.clone(), temperature=tau).item() == pytest.approx(expected, rel=1e-5)


def test_nt_xent_matches_a_loop_over_anchors():
    z1, z2 = torch.randn(6, 5), torch.randn(6, 5)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for i in range(12):
        j = (i + 6) % 12
        sims = torch.stack([z[i] @ z[k] / 0.5 for k in range(12) if k != i])
        total += -(z[i] @ z[j] / 0.5 - torch.logsumexp(sims, 0))
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(total.item() / 12, rel=1e-5)


def test_contrastive_loss_closed_form():
    d = torch.tensor([0.5, 0.5, 2.0])
    y = torch.tensor([0, 1, 1])  # similar, dissimilar inside margin, dissimilar beyond margin
    expected = (0.5 * 0.25 + 0.5 * 0.5**2 + 0.0) / 3
    assert contrastive_loss(d, y, margin=1.0).item() == pytest.approx(expected)


def test_byol_loss_is_two_minus_two_cosine_and_detaches_target():
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    z = torch.tensor([[0.0, 3.0], [2.0, 2.0]], requires_grad=True)
    loss = byol_loss(p, z)
    assert loss.item() == pytest.approx((2.0 + 0.0) / 2)
    loss.backward()
    assert z.grad is None and p.grad is not None
    assert symmetric_byol_loss(p, p, z, z).item() == pytest.approx(2 * loss.item())


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_clip_loss_orthonormal_pairs(scale):
    n = 5
    e = torch.eye(n, dtype=torch.float64)
    expected = math.log(1 + (n - 1) * math.exp(-scale))
    assert clip_loss(e, e, scale).item() == pytest.approx(expected, rel=1e-5)


def test_bad_values_raise_with_the_value():
    z = torch.randn(3, 4)
    with pytest.raises(ValueError, match="-1"):
        nt_xent(z, z, temperature=-1)
    with pytest.raises(ValueError, match="0"):
        contrastive_loss(torch.ones(3), torch.ones(3), margin=0)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        nt_xent(z, torch.randn(2, 4))
