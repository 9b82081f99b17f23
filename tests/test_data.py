"""Embedded data: fixed splits, offline generation, deterministic sequence tasks, clear errors."""

import numpy as np
import pytest
import torch

from deltalab.data import DATASETS, load, load_digits, load_mnist1d, seq
from deltalab.data.toy2d import ring_centers, sample_toy2d
from deltalab.lab import UnknownNameError


def test_digits_fixed_stratified_split():
    d = load_digits()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert float(d.x_train.max()) <= 1.0 and float(d.x_train.min()) >= 0.0
    counts = torch.bincount(d.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 46  # stratified
    assert torch.equal(load_digits().x_train, d.x_train)
    assert load_digits(images=True).x_train.shape == (1347, 1, 8, 8)


def test_mnist1d_offline_and_keeps_numpy_rng():
    np.random.seed(42)
    expected = np.random.rand()
    np.random.seed(42)
    d = load_mnist1d()
    assert np.random.rand() == expected
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
    assert d.y_train.dtype == torch.int64 and int(d.y_train.max()) == 9
    assert load_mnist1d(channels=True).x_train.shape == (4000, 1, 40)


def test_registered_names_and_suggestions():
    for name in ("digits", "mnist1d", "moons", "circles", "swiss-roll", "ring"):
        assert name in DATASETS
    with pytest.raises(UnknownNameError, match="Did you mean 'digits'"):
        load("digit")


def test_toy2d_and_ring():
    x, y = sample_toy2d("ring", 800, seed=0)
    centers = ring_centers()
    assert (x - centers[y]).norm(dim=1).max() < 0.5
    assert torch.equal(sample_toy2d("moons", 50, seed=3)[0], sample_toy2d("moons", 50, seed=3)[0])
    with pytest.raises(ValueError, match="unknown toy2d"):
        sample_toy2d("spiral", 10)


def test_split_helpers():
    d = load_digits()
    rest, (xv, yv) = d.validation(0.2, seed=0)
    assert len(rest.x_train) + len(xv) == len(d.x_train)
    assert len(d.subset(100).x_train) == 100
    with pytest.raises(ValueError, match="fraction"):
        d.validation(1.5)


def test_sequence_tasks_shapes_and_semantics():
    g = lambda: torch.Generator().manual_seed(0)
    c = seq.copy(4, 5, width=3, generator=g())
    assert c.x.shape == (4, 11, 4) and c.y.shape == (4, 11, 3) and int(c.mask.sum()) == 20
    assert torch.equal(c.y[:, 6:], c.x[:, :5, :3])
    a = seq.adding(1000, 50, generator=g())
    assert a.x.shape == (1000, 50, 2) and torch.all(a.x[..., 1].sum(1) == 2)
    assert float(((a.y - a.y.mean()) ** 2).mean()) == pytest.approx(1 / 6, abs=0.02)
    r = seq.reversal(3, 6, generator=g())
    assert torch.equal(r.y, r.x.flip(1))
    s = seq.sort(3, 6, generator=g())
    assert torch.all(s.y[:, 1:] >= s.y[:, :-1])
    ind = seq.induction(2, 4, generator=g())
    assert torch.equal(ind.x[:, 4:], ind.x[:, :4]) and torch.equal(ind.y[:, :-1], ind.x[:, 1:])
    p = seq.parity(8, 5, generator=g())
    assert torch.equal(p.y, p.x.sum(1).long() % 2)
    rc = seq.associative_recall(2, 3, item_len=2, width=4, generator=g())
    assert rc.x.shape[1] == rc.y.shape[1] and int(rc.mask.sum()) == 4
    ps = seq.priority_sort(2, 4, width=3, generator=g())
    assert ps.y.shape == (2, 9, 3)
    rp = seq.repeat_copy(2, 3, repeats=2, width=3, generator=g())
    assert torch.equal(rp.y[:, 4:7, :3], rp.x[:, :3, :3]) and torch.equal(rp.y[:, 7:10, :3], rp.x[:, :3, :3])
    assert torch.equal(seq.copy(2, 3, generator=g()).x, seq.copy(2, 3, generator=g()).x)
    with pytest.raises(ValueError, match="length must be >= 1"):
        seq.copy(2, 0)


def test_corrupt_mnist1d_cache_is_rebuilt(tmp_path, monkeypatch):
    import warnings

    from deltalab.data import mnist1d

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mnist1d._arrays.cache_clear()
    try:
        good = mnist1d._arrays()
        path = tmp_path / "deltalab" / "mnist1d-default-v1.npz"
        path.write_bytes(b"PK\x03\x04 truncated zip")
        mnist1d._arrays.cache_clear()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            again = mnist1d._arrays()
        assert any("unreadable" in str(x.message) for x in w)
        assert all((good[k] == again[k]).all() for k in good)
        with np.load(path) as z:  # rewritten, readable
            assert z["x"].shape == (4000, 40)
    finally:
        mnist1d._arrays.cache_clear()
