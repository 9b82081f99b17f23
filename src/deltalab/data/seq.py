"""Synthetic sequence tasks (the ``seq:*`` data of CLAIMS.md), generated from a torch Generator.

Legend: B batch, T time, L content length, W bit-vector width, V vocabulary.

Bit-vector tasks of the Neural Turing Machine paper (Graves et al. 2014, arXiv:1410.5401):
    copy, repeat_copy, associative_recall, priority_sort
    -> SeqBatch(x (B, T, W_in) float, y (B, T, W_out) float, mask (B, T) bool: where y counts)
Token tasks: reversal, sort, induction -> SeqBatch(x (B, T) long, y (B, T) long, mask (B, T) bool)
Scalar tasks: adding (Hochreiter & Schmidhuber 1997) -> y (B,) float; parity -> y (B,) long.

Every generator takes ``generator=`` so that a seed fixes the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Gen = torch.Generator | None


@dataclass
class SeqBatch:
    """x: inputs; y: targets; mask: the positions where the loss and accuracy count (None: all)."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None = None


def _bits(shape: tuple[int, ...], generator: Gen) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=generator).float()


def _check(**kw: int) -> None:
    for k, v in kw.items():
        if v < 1:
            raise ValueError(f"{k} must be >= 1, got {v}")


def copy(n: int, length: int, width: int = 8, generator: Gen = None) -> SeqBatch:
    """Copy: read L random W-bit vectors, then a delimiter, then write them back.

    x: (B, 2L+1, W+1) — L data steps, the delimiter on channel W, L blank steps.
    y: (B, 2L+1, W) — the data during the last L steps; mask marks those steps.
    """
    _check(n=n, length=length, width=width)
    data = _bits((n, length, width), generator)
    T = 2 * length + 1
    x = torch.zeros(n, T, width + 1)
    x[:, :length, :width] = data
    x[:, length, width] = 1.0
    y = torch.zeros(n, T, width)
    y[:, length + 1 :] = data
    mask = torch.zeros(n, T, dtype=torch.bool)
    mask[:, length + 1 :] = True
    return SeqBatch(x, y, mask)


def repeat_copy(
    n: int, length: int, repeats: int, width: int = 8, max_repeats: int = 10, generator: Gen = None
) -> SeqBatch:
    """Repeat copy: read L vectors and a repeat count, write them ``repeats`` times, then an end mark.

    x: (B, L+1+R·L+1, W+1) — the delimiter step carries repeats/max_repeats on channel W.
    y: (B, T, W+1) — the repeated data, then the end mark on channel W; mask marks the output phase.
    """
    _check(n=n, length=length, repeats=repeats, width=width)
    data = _bits((n, length, width), generator)
    out = repeats * length + 1
    T = length + 1 + out
    x = torch.zeros(n, T, width + 1)
    x[:, :length, :width] = data
    x[:, length, width] = repeats / max_repeats
    y = torch.zeros(n, T, width + 1)
    y[:, length + 1 : length + 1 + repeats * length, :width] = data.repeat(1, repeats, 1)
    y[:, -1, width] = 1.0
    mask = torch.zeros(n, T, dtype=torch.bool)
    mask[:, length + 1 :] = True
    return SeqBatch(x, y, mask)


def associative_recall(
    n: int, items: int, item_len: int = 3, width: int = 6, generator: Gen = None
) -> SeqBatch:
    """Associative recall: after ``items`` items (each ``item_len`` vectors, delimited) and a query
    item, output the item that followed the query in the list.

    x: (B, T, W+2) — channel W delimits items, channel W+1 delimits the query.
    y: (B, T, W) — the answer item over the last ``item_len`` steps; mask marks them.
    """
    _check(n=n, items=items, item_len=item_len, width=width)
    if items < 2:
        raise ValueError(f"associative recall needs items >= 2, got {items}")
    data = _bits((n, items, item_len, width), generator)
    q = torch.randint(0, items - 1, (n,), generator=generator)
    step = item_len + 1
    T = items * step + step + item_len
    x = torch.zeros(n, T, width + 2)
    for i in range(items):
        x[:, i * step, width] = 1.0
        x[:, i * step + 1 : (i + 1) * step, :width] = data[:, i]
    qs = items * step
    x[:, qs, width + 1] = 1.0
    rows = torch.arange(n)
    x[:, qs + 1 : qs + step, :width] = data[rows, q]
    y = torch.zeros(n, T, width)
    y[:, -item_len:] = data[rows, q + 1]
    mask = torch.zeros(n, T, dtype=torch.bool)
    mask[:, -item_len:] = True
    return SeqBatch(x, y, mask)


def priority_sort(
    n: int, length: int, width: int = 8, out_length: int | None = None, generator: Gen = None
) -> SeqBatch:
    """Priority sort: L vectors each with a priority in [-1, 1]; output the ``out_length`` of
    highest priority, highest first.

    x: (B, L+1+K, W+2) — channel W carries the priority, channel W+1 the delimiter.
    y: (B, L+1+K, W); mask marks the last K steps.
    """
    _check(n=n, length=length, width=width)
    k = out_length or length
    data = _bits((n, length, width), generator)
    prio = torch.rand(n, length, generator=generator) * 2 - 1
    T = length + 1 + k
    x = torch.zeros(n, T, width + 2)
    x[:, :length, :width] = data
    x[:, :length, width] = prio
    x[:, length, width + 1] = 1.0
    order = prio.argsort(dim=1, descending=True)[:, :k]
    y = torch.zeros(n, T, width)
    y[:, length + 1 :] = torch.gather(data, 1, order.unsqueeze(-1).expand(-1, -1, width))
    mask = torch.zeros(n, T, dtype=torch.bool)
    mask[:, length + 1 :] = True
    return SeqBatch(x, y, mask)


def adding(n: int, length: int, generator: Gen = None) -> SeqBatch:
    """Adding problem: x (B, T, 2) = (value ~ U(0,1), marker); two markers, one in each half.

    y (B,) is the sum of the two marked values. Always answering the mean (1.0) scores
    MSE = 2·(1/12) ≈ 0.167.
    """
    _check(n=n)
    if length < 2:
        raise ValueError(f"adding needs length >= 2, got {length}")
    values = torch.rand(n, length, generator=generator)
    half = length // 2
    i = torch.randint(0, half, (n,), generator=generator)
    j = torch.randint(half, length, (n,), generator=generator)
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, i] = 1.0
    marks[rows, j] = 1.0
    y = values[rows, i] + values[rows, j]
    return SeqBatch(torch.stack([values, marks], dim=-1), y)


def reversal(n: int, length: int, vocab: int = 10, generator: Gen = None) -> SeqBatch:
    """x: (B, L) tokens in [0, V); y: x reversed."""
    _check(n=n, length=length, vocab=vocab)
    x = torch.randint(0, vocab, (n, length), generator=generator)
    return SeqBatch(x, x.flip(1), torch.ones(n, length, dtype=torch.bool))


def sort(n: int, length: int, vocab: int = 10, generator: Gen = None) -> SeqBatch:
    """x: (B, L) tokens in [0, V); y: x sorted ascending."""
    _check(n=n, length=length, vocab=vocab)
    x = torch.randint(0, vocab, (n, length), generator=generator)
    return SeqBatch(x, x.sort(dim=1).values, torch.ones(n, length, dtype=torch.bool))


def induction(n: int, length: int, vocab: int = 16, generator: Gen = None) -> SeqBatch:
    """A random block of ``length`` tokens followed by the same block again (T = 2L).

    y[t] = x[t+1] (next-token targets; the last position gets 0 and is masked). mask is True where
    the next token is predictable by induction: positions L..2L-2, in the repeat.
    """
    _check(n=n, length=length, vocab=vocab)
    block = torch.randint(0, vocab, (n, length), generator=generator)
    x = torch.cat([block, block], dim=1)
    y = torch.zeros_like(x)
    y[:, :-1] = x[:, 1:]
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, length:-1] = True
    return SeqBatch(x, y, mask)


def parity(n: int, length: int, generator: Gen = None) -> SeqBatch:
    """x: (B, L) bits as float; y: (B,) long, 1 when the number of ones is odd."""
    _check(n=n, length=length)
    x = _bits((n, length), generator)
    return SeqBatch(x, (x.sum(dim=1).long() % 2))


TASKS = {
    "copy": copy,
    "repeat-copy": repeat_copy,
    "recall": associative_recall,
    "sort": sort,
    "priority-sort": priority_sort,
    "adding": adding,
    "reversal": reversal,
    "induction": induction,
    "parity": parity,
}
