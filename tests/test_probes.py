import numpy as np
import pytest
import scipy.linalg
import torch

from deltalab.eval.probes import embedding_std, few_label_indices, few_label_probe, knn_accuracy, linear_probe
from deltalab.eval.subspace import principal_angles


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    centers = torch.randn(4, 6, generator=g) * 4
    return centers[y] + torch.randn(n, 6, generator=g), y


def test_probes_separate_blobs():
    x, y = _blobs()
    xt, yt = _blobs(seed=0)
    assert linear_probe(x, y, xt, yt) > 0.95
    assert knn_accuracy(x, y, xt, yt, k=5, metric="euclidean") > 0.95
    assert few_label_probe(lambda v: v, x, y, xt, yt, per_class=5, draws=2) > 0.9


def test_knn_k1_on_the_training_set_is_perfect():
    x, y = _blobs()
    assert knn_accuracy(x, y, x, y, k=1, metric="euclidean") == 1.0


def test_few_label_indices_balanced_and_seeded():
    y = torch.arange(100) % 10
    idx = few_label_indices(y, 3, seed=1)
    assert torch.equal(torch.bincount(y[idx]), torch.full((10,), 3))
    assert torch.equal(idx, few_label_indices(y, 3, seed=1))
    with pytest.raises(ValueError, match="11"):
        few_label_indices(y, 11, seed=0)


def test_embedding_std_detects_collapse():
    assert embedding_std(torch.ones(50, 8) + 1e-9 * torch.randn(50, 8)).max() < 1e-6
    spread = embedding_std(torch.randn(4000, 16)).mean().item()
    assert spread == pytest.approx(16**-0.5, rel=0.1)


@pytest.mark.parametrize("k", [1, 3])
def test_principal_angles_match_scipy(k):
    g = torch.Generator().manual_seed(k)
    a, b = (
        torch.randn(10, k, generator=g, dtype=torch.float64),
        torch.randn(10, k, generator=g, dtype=torch.float64),
    )
    ours = principal_angles(a, b).numpy()
    ref = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    assert np.allclose(ours, ref, atol=1e-10)
    tiny = principal_angles(a, a + 1e-7 * torch.randn(10, k, generator=g, dtype=torch.float64))
    assert np.allclose(
        tiny.numpy(), np.sort(scipy.linalg.subspace_angles(a.numpy(), (a + 0).numpy())), atol=1e-6
    )


def test_principal_angles_bad_shapes():
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        principal_angles(torch.randn(5, 2), torch.randn(6, 2))
