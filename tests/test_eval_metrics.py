"""The shared accuracy helper and the thread-time timer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deltalab.analysis.timing import least_thread_seconds
from deltalab.eval.metrics import accuracy


def test_accuracy_is_measured_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.9))
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    want = (model[0](x).argmax(-1) == y).float().mean().item()  # dropout off: the eval-mode answer
    assert accuracy(model, x, y) == want
    assert model.training
    model.eval()
    assert accuracy(model, x, y) == want and not model.training


def test_least_thread_seconds_counts_cpu_not_sleep():
    import time

    assert least_thread_seconds(lambda: time.sleep(0.05), 2) < 0.02
    with pytest.raises(ValueError, match="repeats"):
        least_thread_seconds(lambda: None, 0)
