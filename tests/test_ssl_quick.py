"""Fast checks of the options chapter S's quick profiles rely on (eval/probes.py's blas_threads)."""

from __future__ import annotations

import pytest
import torch

from deltalab.eval.probes import linear_probe


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of 10 Gaussian classes around fixed centres; ``seed`` draws the noise."""
    centres = torch.randn(10, 32, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % 10
    return centres[y] + 0.8 * torch.randn(n, 32, generator=torch.Generator().manual_seed(seed + 1)), y


def test_linear_probe_blas_threads_gives_the_same_accuracy():
    (a, ya), (b, yb) = _blobs(100, 0), _blobs(300, 1)
    ref = linear_probe(a, ya, b, yb)
    assert 0.5 < ref <= 1.0
    assert linear_probe(a, ya, b, yb, blas_threads=1) == ref


def test_linear_probe_rejects_a_bad_thread_count():
    a, y = _blobs(20, 0)
    with pytest.raises(ValueError, match="blas_threads"):
        linear_probe(a, y, a, y, blas_threads=0)


def test_mae_fused_adamw_matches_the_plain_update():
    from deltalab.models.ssl.encoders import PatchTransformer
    from deltalab.models.ssl.mae import MAEConfig, train_mae

    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    runs = []
    for fused in (False, True):
        torch.manual_seed(0)
        _, losses = train_mae(PatchTransformer(), x, MAEConfig(steps=5, batch_size=16, fused=fused))
        runs.append(losses)
    assert runs[0] == pytest.approx(runs[1], rel=1e-4)
