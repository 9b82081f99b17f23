"""MNIST-1D (Greydanus 2020, arXiv:2011.14439), generated offline by the mnist1d package.

``make_dataset(get_dataset_args())`` gives the paper's defaults: 4000 train / 1000 test sequences
of length 40, 10 classes. Generation takes a few seconds, so the arrays are cached as ``.npz``
under ``$XDG_CACHE_HOME/deltalab`` (default ``~/.cache/deltalab``), written atomically. The
package's generator reseeds NumPy's global RNG; we restore it so that loading data never
changes a run's randomness. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from deltalab.data.base import DATASETS, Split
from deltalab.files import atomic_write


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "deltalab"


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    return {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}


@functools.lru_cache(maxsize=1)
def _arrays() -> dict[str, np.ndarray]:
    path = cache_dir() / "mnist1d-default-v1.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
            if arrays["x"].shape == (4000, 40):
                return arrays
            problem = f"shape {arrays['x'].shape}"
        except Exception as e:  # noqa: BLE001 - any unreadable cache (BadZipFile, truncation, ...) is rebuilt
            problem = f"{type(e).__name__}: {e}"
        warnings.warn(f"mnist1d cache {path} is unreadable ({problem}); regenerating it", stacklevel=3)
    arrays = _generate()
    with contextlib.suppress(OSError):  # a read-only home still gets the data, just not the cache
        atomic_write(path, lambda f: np.savez(f, **arrays))
    return arrays


@DATASETS.register(name="mnist1d")
def load_mnist1d(channels: bool = False) -> Split:
    """MNIST-1D as (N, 40) float32, or (N, 1, 40) with ``channels=True``; labels 0..9."""
    a = _arrays()
    xt = torch.from_numpy(a["x"].astype(np.float32))
    xs = torch.from_numpy(a["x_test"].astype(np.float32))
    if channels:
        xt, xs = xt.unsqueeze(1), xs.unsqueeze(1)
    yt = torch.from_numpy(a["y"].astype(np.int64))
    ys = torch.from_numpy(a["y_test"].astype(np.int64))
    return Split(xt, yt, xs, ys, 10, "mnist1d")
