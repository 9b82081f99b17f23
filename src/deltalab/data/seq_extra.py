"""More synthetic sequence tasks for chapter R (the generators of ``deltalab.data.seq`` are the rest).

Legend: B batch, T time.

flip_flop: a one-bit latch ("set" / "reset" commands, hold in between), the task on which a net
needs memory beyond any fixed window (Elman 1990 used such toy grammars; the latch is the smallest).
"""

from __future__ import annotations

import torch

from deltalab.data.seq import SeqBatch

Gen = torch.Generator | None


def flip_flop(n: int, length: int, p_command: float = 0.1, generator: Gen = None) -> SeqBatch:
    """x (B, T, 1) in {-1, 0, +1} (reset, hold, set); y (B, T) long: 1 after the last command was a
    set, 0 after a reset or before any command.
    """
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be >= 1, got {n}, {length}")
    if not 0 < p_command <= 1:
        raise ValueError(f"p_command must be in (0, 1], got {p_command}")
    fire = torch.rand(n, length, generator=generator) < p_command
    sign = torch.randint(0, 2, (n, length), generator=generator) * 2 - 1
    x = (fire * sign).float()  # (B, T)
    y = torch.zeros(n, length, dtype=torch.long)
    state = torch.zeros(n, dtype=torch.long)
    for t in range(length):
        state = torch.where(fire[:, t], (sign[:, t] > 0).long(), state)
        y[:, t] = state
    return SeqBatch(x.unsqueeze(-1), y)


def remember_first(
    n: int, length: int, classes: int = 4, shown: int = 1, generator: Gen = None, noise: float = 0.0
) -> SeqBatch:
    """Recall the first symbol after a long silent gap (Hochreiter & Schmidhuber 1997, experiment 2a:
    noise-free sequences with long time lags).

    x (B, T, classes + 1): the class one-hot in channels [0, classes) for the first ``shown`` steps,
    zeros in between, the last step a query mark on channel ``classes``; y (B,) long: the class
    (chance 1/classes). The gap to bridge is T − shown steps. ``noise`` > 0 adds N(0, noise²) to the
    class channels at every step but the query (cue and gap alike), so the class is only readable by
    accumulating the cue over many steps and there is no silent stretch; ``noise`` = 0 draws nothing
    extra from ``generator`` (the noise-free batches are unchanged).
    """
    if n < 1 or classes < 2 or not 1 <= shown < length:
        raise ValueError(
            f"need n >= 1, classes >= 2, 1 <= shown < length, got {n}, {classes}, {shown}, {length}"
        )
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    y = torch.randint(0, classes, (n,), generator=generator)
    x = torch.zeros(n, length, classes + 1)
    x[:, :shown] = torch.nn.functional.one_hot(y, classes + 1).float().unsqueeze(1)
    if noise > 0:
        x[:, :-1, :classes] += noise * torch.randn(n, length - 1, classes, generator=generator)
    x[:, -1, classes] = 1.0
    return SeqBatch(x, y)
