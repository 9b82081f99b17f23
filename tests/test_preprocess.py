"""StandardScaler and PCAWhitener: fitted on train only, checked against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler as SkScaler

from deltalab.train.preprocess import PCAWhitener, StandardScaler, condition_number


def _data():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(4, 4, generator=g)
    return (torch.randn(500, 4, generator=g) @ mix) * torch.tensor([1.0, 10.0, 0.1, 100.0]) + 3


def test_scaler_matches_sklearn_and_uses_train_stats():
    x = _data()
    s = StandardScaler(eps=0).fit(x[:400])
    ref = SkScaler().fit(x[:400].numpy())
    np.testing.assert_allclose(
        s.transform(x[400:]).numpy(), ref.transform(x[400:].numpy()), rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(s.inverse_transform(s.transform(x)), x, rtol=1e-4, atol=1e-3)


def test_whitener_gives_identity_covariance_and_matches_sklearn():
    x = _data()
    w = PCAWhitener()
    z = w.fit_transform(x).double()
    torch.testing.assert_close(z.T @ z / len(z), torch.eye(4, dtype=torch.float64), atol=1e-3, rtol=0)
    ref = PCA(whiten=True).fit(x.numpy())
    mine = w.transform(x).numpy()
    theirs = ref.transform(x.numpy()) * np.sqrt(len(x) / (len(x) - 1))  # sklearn uses N-1
    np.testing.assert_allclose(np.abs(mine), np.abs(theirs), rtol=1e-3, atol=1e-3)  # signs are free
    assert condition_number(x) > 1e3 and condition_number(z.float()) < 1.01


def test_errors():
    with pytest.raises(RuntimeError, match="fit"):
        StandardScaler().transform(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        StandardScaler().fit(torch.zeros(3))
    with pytest.raises(ValueError, match="0"):
        PCAWhitener(n_components=0)
    with pytest.raises(ValueError, match="4 features"):
        PCAWhitener().fit(torch.zeros(5, 4)).transform(torch.zeros(5, 3))
