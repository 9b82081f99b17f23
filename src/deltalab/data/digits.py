"""scikit-learn's 8×8 digits (1797 images, shipped with scikit-learn): one fixed split for every claim.

The split is stratified 75/25 with seed 0 (DESIGN.md: one split per data set). Pixels are scaled
from 0..16 to [0, 1].
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from deltalab.data.base import DATASETS, Split


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    d = sk_load()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    return tuple(train_test_split(x, y, test_size=0.25, stratify=y, random_state=0))  # type: ignore[return-value]


@DATASETS.register(name="digits")
def load_digits(images: bool = False) -> Split:
    """Digits as (N, 64) vectors, or (N, 1, 8, 8) images with ``images=True``; labels 0..9."""
    x_tr, x_te, y_tr, y_te = _arrays()
    xt, xs = torch.from_numpy(x_tr.copy()), torch.from_numpy(x_te.copy())
    if images:
        xt, xs = xt.view(-1, 1, 8, 8), xs.view(-1, 1, 8, 8)
    return Split(xt, torch.from_numpy(y_tr.copy()), xs, torch.from_numpy(y_te.copy()), 10, "digits")
