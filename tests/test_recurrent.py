"""Elman, Jordan and window nets; truncated BPTT; the flip-flop generator."""

import pytest
import torch
import torch.nn.functional as F

from deltalab.data.seq_extra import flip_flop
from deltalab.nn.recurrent import ElmanRNN, JordanRNN, TimeDelayNet
from deltalab.train.bptt import bptt_step, detach_state

MODELS = {
    "elman": lambda: ElmanRNN(1, 8, 2),
    "jordan": lambda: JordanRNN(1, 8, 2),
    "window": lambda: TimeDelayNet(1, 3, 8, 2),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_backward_and_state_continuation(name: str) -> None:
    torch.manual_seed(0)
    m = MODELS[name]()
    x = torch.randn(4, 10, 1)
    out, state = m(x)
    assert out.shape == (4, 10, 2) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    if name != "window":  # running in two chunks with the carried state equals one pass
        a, s = m(x[:, :6])
        b, _ = m(x[:, 6:], s)
        torch.testing.assert_close(torch.cat([a, b], 1), out)


def test_window_net_sees_only_the_window() -> None:
    m = TimeDelayNet(1, 3, 8, 2)
    x = torch.randn(2, 10, 1)
    x2 = x.clone()
    x2[:, :5] = torch.randn(2, 5, 1)
    torch.testing.assert_close(m(x)[0][:, 7:], m(x2)[0][:, 7:])


def test_truncated_bptt_cuts_gradients() -> None:
    torch.manual_seed(0)
    m = ElmanRNN(1, 4, 2)
    x = torch.randn(2, 8, 1)
    y = torch.zeros(2, 8, dtype=torch.long)
    opt = torch.optim.SGD(m.parameters(), lr=0.0)

    def ce(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.reshape(-1, 2), t.reshape(-1))

    full = bptt_step(m, x, y, ce, opt, k=None)
    g_full = m.rnn.weight_hh_l0.grad.clone()
    trunc = bptt_step(m, x, y, ce, opt, k=2)
    assert abs(full - trunc) < 1e-6  # same loss, different gradient
    assert not torch.allclose(g_full, m.rnn.weight_hh_l0.grad)
    with pytest.raises(ValueError, match="got 0"):
        bptt_step(m, x, y, ce, opt, k=0)
    assert detach_state((torch.ones(1, requires_grad=True), None))[0].requires_grad is False


def test_flip_flop_latches() -> None:
    b = flip_flop(3, 40, p_command=0.3, generator=torch.Generator().manual_seed(0))
    x, y = b.x[..., 0], b.y
    for i in range(3):
        state = 0
        for t in range(40):
            state = 1 if x[i, t] > 0 else 0 if x[i, t] < 0 else state
            assert y[i, t] == state
    with pytest.raises(ValueError, match="p_command"):
        flip_flop(2, 5, p_command=0.0)
