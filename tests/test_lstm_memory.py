"""lstm-memory's stacked tanh-RNN grid equals one nn.RNN + Adam + clipping run per rate."""

import torch
from torch import nn

from deltalab.data.seq import adding
from deltalab.experiments.recurrent import (
    _LastStep,
    _rnn_grid_forward,
    _rnn_grid_params,
    train_adding,
    train_adding_rnn_grid,
)


def test_stacked_rnn_forward_equals_nn_rnn() -> None:
    p = _rnn_grid_params(8, 3, seed=0)
    torch.manual_seed(0)
    ref = _LastStep(nn.RNN(2, 8, batch_first=True))
    x = adding(16, 12, generator=torch.Generator().manual_seed(1)).x
    out = _rnn_grid_forward(p, x)
    assert out.shape == (3, 16)
    for g in range(3):
        torch.testing.assert_close(out[g], ref(x), atol=1e-6, rtol=1e-5)


def test_stacked_rnn_grid_training_equals_one_run_per_rate() -> None:
    # float64 throughout and 50 steps: rounding differences (summation order) stay ~1e-15 there; at
    # lr 0.3 Adam amplifies them to ~1e-7 within 20 steps, so that rate is left out of the check
    lrs, steps, T, H = [3e-3, 3e-2, 1e-1], 50, 10, 8
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        val = adding(40, T, generator=torch.Generator().manual_seed(2))
        p, curves = train_adding_rnn_grid(H, lrs, steps, T, 0, (val.x, val.y))
        for g, lr in enumerate(lrs):
            torch.manual_seed(0)
            model = _LastStep(nn.RNN(2, H, batch_first=True))
            _, curve = train_adding(model, steps, T, lr, 0, "cpu", (val.x, val.y))
            for name, w in model.named_parameters():
                torch.testing.assert_close(p[name][g], w, atol=1e-9, rtol=1e-9)
            torch.testing.assert_close(torch.tensor(curves[g]), torch.tensor(curve), atol=1e-10, rtol=1e-9)
    finally:
        torch.set_default_dtype(default)
