"""The LSTM cell written out gate by gate, and a one-layer LSTM built on it.

Paper: Hochreiter & Schmidhuber, "Long Short-Term Memory" (Neural Computation 1997); the forget gate
of Gers, Schmidhuber & Cummins (2000); the form below is the one of ``torch.nn.LSTM`` (see also
Greff et al., "LSTM: A Search Space Odyssey", arXiv:1503.04069).

    i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate
    f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)     cell candidate
    o = σ(W_io x + b_io + W_ho h + b_ho)        output gate
    c' = f ⊙ c + i ⊙ g,     h' = o ⊙ tanh(c')

This is the hand-written twin of ``torch.nn.LSTM`` (same parameter names and gate order i, f, g, o),
written for the lesson; use ``nn.LSTM`` for speed. ``LSTM.from_torch`` copies an ``nn.LSTM``'s
weights; the two then agree to float rounding (tested < 1e-6).

Departures: one layer, unidirectional, no projection (``proj_size``) or dropout.

Legend: B batch, T time, I input features, H hidden size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from deltalab.nn.shapes import check_shape


class LSTMCell(nn.Module):
    """One LSTM step: (x (B, I), (h, c) each (B, H)) -> (h', c'). Parameters as ``nn.LSTMCell``."""

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float | None = None) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be >= 1, got {input_size}, {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * H, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))
        self.bias_ih = nn.Parameter(torch.empty(4 * H))
        self.bias_hh = nn.Parameter(torch.empty(4 * H))
        bound = 1 / math.sqrt(H)  # torch's init
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        if forget_bias is not None:
            with torch.no_grad():
                self.bias_ih[H : 2 * H] = forget_bias
                self.bias_hh[H : 2 * H] = 0.0

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"expected x of shape (B, {self.input_size}), got {tuple(x.shape)}")
        if state is None:
            h = c = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            h, c = state
            check_shape(h, "h", (x.shape[0], self.hidden_size))
            check_shape(c, "c", (x.shape[0], self.hidden_size))
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c


class LSTM(nn.Module):
    """A one-layer LSTM over time with ``LSTMCell``; the interface of ``nn.LSTM(batch_first=...)``.

    x (B, T, I) if batch_first else (T, B, I) -> (out (same layout, H), (h_n (1, B, H), c_n (1, B, H))).
    """

    def __init__(
        self, input_size: int, hidden_size: int, batch_first: bool = False, forget_bias: float | None = None
    ) -> None:
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, forget_bias)
        self.batch_first = batch_first

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> LSTM:
        """A twin holding a copy of a one-layer unidirectional ``nn.LSTM``'s weights."""
        if lstm.num_layers != 1 or lstm.bidirectional or lstm.proj_size or not lstm.bias:
            raise ValueError(
                "from_torch needs a one-layer, unidirectional nn.LSTM with biases and no projection, got "
                f"num_layers={lstm.num_layers}, bidirectional={lstm.bidirectional}, proj_size={lstm.proj_size}, "
                f"bias={lstm.bias}"
            )
        twin = cls(lstm.input_size, lstm.hidden_size, batch_first=lstm.batch_first)
        twin = twin.to(device=lstm.weight_ih_l0.device, dtype=lstm.weight_ih_l0.dtype)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(twin.cell, name).copy_(getattr(lstm, name + "_l0"))
        return twin

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if x.dim() != 3:
            raise ValueError(f"expected a 3-D input (B, T, I) or (T, B, I), got shape {tuple(x.shape)}")
        xs = x.transpose(0, 1) if self.batch_first else x  # (T, B, I)
        if state is not None:  # nn.LSTM's layout: (num_layers = 1, B, H) each
            for name, s in zip(("h_0", "c_0"), state, strict=True):
                check_shape(s, name, (1, xs.shape[1], self.cell.hidden_size))
        hc = None if state is None else (state[0][0], state[1][0])
        outs = []
        for x_t in xs:
            hc = self.cell(x_t, hc)
            outs.append(hc[0])
        out = torch.stack(outs, dim=1 if self.batch_first else 0)
        assert hc is not None
        return out, (hc[0].unsqueeze(0), hc[1].unsqueeze(0))


def set_forget_bias(lstm: nn.LSTM, value: float) -> nn.LSTM:
    """Set the forget-gate bias of every layer of an ``nn.LSTM`` to ``value`` (b_if = value, b_hf = 0)."""
    H = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[H : 2 * H] = value
            elif name.startswith("bias_hh"):
                p[H : 2 * H] = 0.0
    return lstm
