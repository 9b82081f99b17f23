"""Sequence training with (truncated) backpropagation through time.

Williams & Peng, "An Efficient Gradient-Based Algorithm for On-Line Training of Recurrent Network
Trajectories" (Neural Computation 1990); Werbos, "Backpropagation Through Time" (1990).

Truncated BPTT with window k: run the sequence in chunks of k steps; the recurrent state is carried
from chunk to chunk but detached, so gradients flow back at most k steps. Here each chunk's loss is
backpropagated as soon as the chunk ends (memory O(k) instead of O(T)) and the gradients of all
chunks are summed into one optimizer step, so full and truncated BPTT take the same number of steps
and differ only in how far gradients reach. ``k=None`` is full BPTT.

The model protocol: ``model(x_chunk, state) -> (out, state)`` with ``state=None`` at the start; the
state may be a tensor, a tuple of tensors, or None (stateless models).

Legend: B batch, T time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def detach_state(state: Any) -> Any:
    """The state with every tensor detached (tensors, tuples/lists of them, or None)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def bptt_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    k: int | None = None,
    grad_clip: float | None = None,
) -> float:
    """One optimizer step on a batch of sequences x (B, T, ...), per-step targets y (B, T, ...).

    ``k``: truncation window (detach the state every k steps); None: full BPTT. Returns the mean loss
    over the sequence. ``loss_fn(out_chunk, y_chunk)`` must average over its elements.
    """
    T = x.shape[1]
    if k is not None and k < 1:
        raise ValueError(f"truncation window k must be >= 1 or None, got {k}")
    if y.shape[:2] != x.shape[:2]:
        raise ValueError(
            f"y must have per-step targets (B, T, ...) = {tuple(x.shape[:2])}, got {tuple(y.shape)}"
        )
    k = k or T
    optimizer.zero_grad(set_to_none=True)
    state, total = None, 0.0
    for t0 in range(0, T, k):
        out, state = model(x[:, t0 : t0 + k], detach_state(state))
        loss = loss_fn(out, y[:, t0 : t0 + k]) * (min(k, T - t0) / T)  # chunk weight: its share of T
        loss.backward()
        total += loss.item()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return total
