"""The hand-written LSTM equals torch's given the same weights; gradients flow."""

import pytest
import torch
from torch import nn

from deltalab.nn.lstm import LSTM, LSTMCell, set_forget_bias


@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_equals_torch(batch_first: bool) -> None:
    torch.manual_seed(0)
    ref = nn.LSTM(5, 7, batch_first=batch_first)
    ours = LSTM.from_torch(ref)
    x = torch.randn(3, 11, 5) if batch_first else torch.randn(11, 3, 5)
    h0, c0 = torch.randn(1, 3, 7), torch.randn(1, 3, 7)
    out, (h, c) = ours(x, (h0, c0))
    out_r, (h_r, c_r) = ref(x, (h0, c0))
    for a, b in ((out, out_r), (h, h_r), (c, c_r)):
        assert (a - b).abs().max() < 1e-6


def test_cell_equals_torch_cell_and_gradients() -> None:
    torch.manual_seed(1)
    ref = nn.LSTMCell(4, 6)
    cell = LSTMCell(4, 6)
    cell.load_state_dict(ref.state_dict())
    x = torch.randn(5, 4, requires_grad=True)
    h, c = cell(x)
    h_r, c_r = ref(x)
    assert (h - h_r).abs().max() < 1e-6 and (c - c_r).abs().max() < 1e-6
    (g,) = torch.autograd.grad(h.sum(), x)
    (g_r,) = torch.autograd.grad(h_r.sum(), x)
    assert (g - g_r).abs().max() < 1e-6


def test_forget_bias() -> None:
    cell = LSTMCell(2, 3, forget_bias=1.0)
    assert torch.all(cell.bias_ih[3:6] == 1.0) and torch.all(cell.bias_hh[3:6] == 0.0)
    lstm = set_forget_bias(nn.LSTM(2, 3), 2.0)
    assert torch.all(lstm.bias_ih_l0[3:6] + lstm.bias_hh_l0[3:6] == 2.0)


def test_bad_values() -> None:
    with pytest.raises(ValueError, match="hidden_size"):
        LSTMCell(3, 0)
    with pytest.raises(ValueError, match="num_layers=2"):
        LSTM.from_torch(nn.LSTM(2, 3, num_layers=2))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        LSTMCell(2, 3)(torch.zeros(4, 5))
