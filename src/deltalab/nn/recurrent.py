"""Elman and Jordan networks, and the time-delay (fixed window) net they are compared with.

Papers: Elman, "Finding Structure in Time" (Cognitive Science 1990); Jordan, "Serial Order: A
Parallel Distributed Processing Approach" (ICS Report 8604, 1986); Waibel et al., "Phoneme
Recognition Using Time-Delay Neural Networks" (1989) for the window net that maps time into space.

    Elman:  h_t = tanh(W_x x_t + W_h h_{t-1} + b),   y_t = V h_t + c          (hidden feeds back)
    Jordan: h_t = tanh(W_x x_t + W_y s_{t-1} + b),   y_t = V h_t + c,  s_t = softmax(y_t)
                                                                              (output feeds back)
    Window: y_t = MLP(x_{t-w+1}, ..., x_t)                                     (no state at all)

``RecurrentHead`` puts a linear read-out on torch's own recurrent layers (``nn.RNN``, ``nn.LSTM``,
``nn.GRU``), at every step or at the last one: the baseline of many sequence claims.

The Elman recurrence is ``nn.RNN(nonlinearity="tanh")`` (torch ships it); the Jordan loop is written
here because torch has no output-feedback RNN. Every model returns ``(logits, state)`` and accepts the
state back, so that ``deltalab.train.bptt`` can cut the graph every k steps.

Departures: Jordan's state units also had self-connections (s_t = μ s_{t-1} + y_{t-1}); here the state
is the previous output distribution alone (μ = 0), the form most textbooks give.

Legend: B batch, T time, I input features, H hidden units, O outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.nn.shapes import check_shape


def _check_input(x: torch.Tensor, input_size: int) -> None:
    if x.dim() != 3 or x.shape[-1] != input_size:
        raise ValueError(f"expected x of shape (B, T, {input_size}), got {tuple(x.shape)}")


class ElmanRNN(nn.Module):
    """Elman net: x (B, T, I), h (1, B, H) or None -> (logits (B, T, O), h_T (1, B, H))."""

    def __init__(self, input_size: int, hidden_size: int, out_features: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(hidden_size, out_features)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.input_size)
        if state is not None:
            check_shape(state, "state h_0", (1, x.shape[0], self.rnn.hidden_size))
        h, h_n = self.rnn(x, state)  # (B, T, H), (1, B, H)
        return self.head(h), h_n


class JordanRNN(nn.Module):
    """Jordan net: x (B, T, I), s (B, O) or None -> (logits (B, T, O), s_T (B, O)).

    The state is the previous output distribution; before the first step it is uniform.
    """

    def __init__(self, input_size: int, hidden_size: int, out_features: int) -> None:
        super().__init__()
        self.input_size, self.out_features = input_size, out_features
        self.in_proj = nn.Linear(input_size, hidden_size)
        self.fb_proj = nn.Linear(out_features, hidden_size, bias=False)
        self.head = nn.Linear(hidden_size, out_features)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.input_size)
        B, T, _ = x.shape
        if state is not None:
            check_shape(state, "state s_0", (B, self.out_features))
        s = x.new_full((B, self.out_features), 1.0 / self.out_features) if state is None else state
        drive = self.in_proj(x)  # (B, T, H), all input terms at once
        logits = []
        for t in range(T):
            y = self.head(torch.tanh(drive[:, t] + self.fb_proj(s)))  # (B, O)
            s = F.softmax(y, dim=-1)
            logits.append(y)
        return torch.stack(logits, dim=1), s


class TimeDelayNet(nn.Module):
    """Window net: y_t from the last ``window`` inputs (zero-padded at the start); no state.

    x (B, T, I) -> (logits (B, T, O), None); the state argument is accepted and ignored.
    """

    def __init__(self, input_size: int, window: int, hidden_size: int, out_features: int) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.input_size, self.window = input_size, window
        self.mlp = nn.Sequential(
            nn.Linear(window * input_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, out_features)
        )

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        _check_input(x, self.input_size)
        xp = F.pad(x, (0, 0, self.window - 1, 0))  # (B, T+w-1, I)
        win = xp.unfold(1, self.window, 1)  # (B, T, I, w)
        return self.mlp(win.transpose(2, 3).flatten(2)), None  # (B, T, O)


class RecurrentHead(nn.Module):
    """A batch-first recurrent layer of torch's (``nn.RNN``/``nn.LSTM``/``nn.GRU``) with a linear head.

    x (B, T, I) → logits (B, T, O) at every step, or (B, O) at the last step (``last_step=True``).
    The head is created after ``rnn``, so a seeded ``rnn`` then head gives the same weights as
    building the two in that order by hand.
    """

    def __init__(self, rnn: nn.RNNBase, out_features: int, last_step: bool = False) -> None:
        super().__init__()
        if not getattr(rnn, "batch_first", False):
            raise ValueError("RecurrentHead expects a batch_first recurrent layer (batch_first=True)")
        self.rnn, self.head = rnn, nn.Linear(rnn.hidden_size, out_features)
        self.last_step = last_step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]  # (B, T, H)
        return self.head(out[:, -1] if self.last_step else out)
