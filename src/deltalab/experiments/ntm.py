"""Chapter R, claim ntm: a Neural Turing Machine learns copy and generalizes to longer inputs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data.seq import SeqBatch, copy
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.nn.ntm import NTM, NTMConfig
from deltalab.nn.recurrent import RecurrentHead
from deltalab.train.steps import fit_steps


def lstm_baseline(input_size: int, output_size: int, hidden_size: int) -> RecurrentHead:
    """The NTM's baseline: an ``nn.LSTM`` with a linear head at every step."""
    return RecurrentHead(nn.LSTM(input_size, hidden_size, batch_first=True), output_size)


def bit_error(model: nn.Module, batch: SeqBatch) -> float:
    """Fraction of wrong output bits over the masked (answer) steps."""
    with torch.no_grad():
        pred = (model(batch.x) > 0).float()
    return (pred != batch.y)[batch.mask].float().mean().item()


def train_copy(
    model: nn.Module,
    steps: int,
    width: int,
    max_len: int,
    batch: int,
    seed: int,
    stop_loss: float = 0.0,
    window: int = 50,
) -> list[float]:
    """Adam (lr 1e-2, clip 10) on copy with one length per batch, uniform in 1..max_len; returns the
    losses. Stops before ``steps`` once the mean training loss of the last ``window`` batches is below
    ``stop_loss`` (0: never), so a run that has learnt copy stops early and a slow one gets more steps.
    """
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses: list[float] = []

    def loss_fn() -> torch.Tensor:
        L = int(torch.randint(1, max_len + 1, (1,), generator=g))
        b = copy(batch, L, width, generator=g)
        return F.binary_cross_entropy_with_logits(model(b.x)[b.mask], b.y[b.mask])

    def converged(step: int, loss: torch.Tensor) -> bool:
        losses.append(loss.item())
        return len(losses) >= window and sum(losses[-window:]) / window < stop_loss

    fit_steps(loss_fn, opt, steps, clip=10.0, after_step=converged)
    return losses


def train_copy_restarts(
    make_model: Callable[[], nn.Module],
    attempts: int,
    attempt_steps: int,
    width: int,
    max_len: int,
    batch: int,
    seed: int,
    stop_loss: float,
    window: int = 50,
) -> tuple[nn.Module, list[float], list[int]]:
    """``train_copy`` with restarts: an attempt that has not reached ``stop_loss`` within
    ``attempt_steps`` batches is abandoned and a fresh model (new initialisation and data, seed
    ``seed + 1000 * i``) is trained, at most ``attempts`` in all. Returns the attempt with the lowest
    training loss (mean of its last ``window`` batches; never chosen by test error), its losses, and
    the number of batches of every attempt (their sum is the cost).
    """
    best: tuple[float, nn.Module, list[float]] | None = None
    lengths: list[int] = []
    for i in range(attempts):
        torch.manual_seed(seed + 1000 * i)
        model = make_model()
        losses = train_copy(model, attempt_steps, width, max_len, batch, seed + 1000 * i, stop_loss, window)
        lengths.append(len(losses))
        final = sum(losses[-window:]) / len(losses[-window:])
        if best is None or final < best[0]:
            best = (final, model, losses)
        if final < stop_loss:
            break
    assert best is not None
    return best[1], best[2], lengths


@experiment(
    chapter="R",
    title="A Neural Turing Machine learns to copy and generalizes to longer inputs",
    claim="a Neural Turing Machine (content + location addressing: k, β, g, s, γ; erase/add writes) learns "
    "copy and generalizes to longer inputs",
)
def ntm(ctx: Context):
    """`deltalab run ntm` — claim ntm. Quick: 4-bit vectors, lengths 1..5, a 16-unit controller,
    12 memory slots of width 10, batches of 64 (Adam 1e-2, clip 10) until the mean training loss of
    the last 50 batches is below 0.01, restarting from a fresh initialisation once if the first
    attempt has not got there within 1100 batches (at most 2200; the attempt with the lowest training
    loss is kept); expected bit error < 5% on held-out sequences of lengths 1..5; the error at length
    10 is reported. Measured bit error at seeds 0-19: 6e-5, 0, 8e-4, 0, 0, 0, 9e-4, 1.6e-4, 0, 5e-4,
    0, 8e-4, 8e-5, 2.5e-4, 3.5e-4, 0, 5e-5, 0, 2.2e-3, 8e-5 (after 608, 583, 403, 478, 519, 457,
    522, 1097, 577, 403, 696, 513, 1578, 452, 513, 1700, 605, 439, 453, 879 batches; restarted at
    seeds 12 and 15, mean 674); at length 10: 0.3-15%. Without the restart (one attempt of at most
    1500 batches) seeds 12 and 15 failed (4.6%, 6.2%: partial solutions). Before (32 units, 600
    steps): seed 7 failed (5.4%) and seed 9 passed by a hair (4.97%); both had stored the sequence
    in the controller (33% error at length 10, still 0.8% and 2.6% after 1500 steps). Tried without
    a fix: Adam 3e-3 (seeds 7, 9 still partial after 2000 steps); Collier & Beel's learned initial
    weightings, read-before-write, tanh key and ±20 output clip (fixes 7 and 9, breaks 0, 1, 3);
    pytorch-ntm's small random fixed memory (fixes 7, not 9). Full: 8-bit, lengths 1..10, 32-unit
    controller, at most 6000 batches (2 attempts of 3000 for the NTM) with the same stop for the NTM
    and the LSTM; bit error < 1% and at length 20 below an LSTM of similar size; measured at seed 0:
    4e-5, and 3e-5 at length 20 against the LSTM's 36% (NTM stopped after 915 steps; ~60 s idle).
    Quick profile: ~10 s per seed (idle, one thread; ~25 s at seeds 12 and 15).
    """
    width, max_len = ctx.pick(quick=(4, 5), full=(8, 10))
    # at most `steps` batches of 64: training stops once the mean loss of the last 50 batches is below
    # 0.01 nats/bit (copy learnt: held-out bit error <= 0.22% at every seed 0-19 at that point), so a
    # seed that finds the memory program early stops early (~400-700 steps) and a slow one gets more
    steps, batch, stop_loss = ctx.pick(quick=2200, full=6000), 64, 0.01
    # slot width 10 and batch 64: with 6-wide slots and batch 32, seeds 2 and 4 settled in a partial
    # solution (bit error 6-8%). A 16-unit controller in the quick profile: 4-bit sequences of length
    # <= 5 are 20 bits, which a 32-unit LSTM holds in its own state; at seeds 7 and 9 it did so (bit
    # error 2.6% at length 5-ish, 33% at length 10, still not solved after 1500 steps) instead of
    # learning to address memory. 16 units cannot, and every seed 0-11 learnt the memory program.
    hidden = ctx.pick(quick=16, full=32)
    cfg = NTMConfig(width + 1, width, hidden_size=hidden, mem_slots=ctx.pick(quick=12, full=24), mem_width=10)
    # restarts, the standard NTM practice for runs that settle in a partial solution: an attempt that
    # has not reached the stop loss within steps / 2 batches (1100 in quick; seeds 0-19 stop after
    # 400-700, 879 and 1097) is abandoned for a fresh initialisation, keeping the attempt with the
    # lowest training loss. Without them seeds 12 and 15 were still at 4.6% and 6.2% bit error after
    # 1500 steps; their second attempts stop after 478 and 600 steps. 3 attempts of 800 also passed
    # every seed 0-19 but cost 13% more on average: seeds 7 and 19, which stop after 1097 and 879
    # steps, were cut and needed 3 attempts (1960, 2114 steps).
    attempts = 2
    attempt_steps = steps // attempts
    model, losses, lengths = train_copy_restarts(
        lambda: NTM(cfg), attempts, attempt_steps, width, max_len, batch, ctx.seed, stop_loss
    )
    ctx.series("loss", losses)
    gt = torch.Generator().manual_seed(ctx.seed + 1)
    per_len = [bit_error(model, copy(200, L, width, generator=gt)) for L in range(1, max_len + 1)]
    err_in = sum(per_len) / max_len
    long = copy(200, 2 * max_len, width, generator=gt)
    err_long = bit_error(model, long)
    ctx.log(f"bit error {err_in:.4f} (lengths <= {max_len}), {err_long:.4f} at length {2 * max_len}")
    metrics = {
        "bit_error": err_in,
        "bit_error_2x_length": err_long,
        "train_steps": sum(lengths),
        "attempts": len(lengths),
    }
    bars = [Bar("bit_error", "<", 0.05)]
    if not ctx.quick:
        torch.manual_seed(ctx.seed)
        lstm = lstm_baseline(width + 1, width, 64)
        train_copy(lstm, steps, width, max_len, batch, ctx.seed, stop_loss)
        metrics["bit_error_2x_length_lstm"] = bit_error(lstm, long)
        metrics["lstm_minus_ntm_2x_length"] = metrics["bit_error_2x_length_lstm"] - err_long
        bars = [Bar("bit_error", "<", 0.01), Bar("lstm_minus_ntm_2x_length", ">", 0.0)]

    sample = copy(1, max_len, width, generator=gt)
    with torch.no_grad():
        model(sample.x, keep_trace=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    for ax, key in zip(axes, ("write", "read")):
        ax.imshow(torch.cat(model.trace[key]).T.numpy(), aspect="auto", cmap="gray_r", vmin=0, vmax=1)
        ax.set(xlabel="time step", ylabel="memory slot", title=f"{key} weighting (copy, length {max_len})")
    # the bar's quantity: held-out bit error per training length (its mean is barred) and at 2x length
    lengths = [*range(1, max_len + 1), 2 * max_len]
    axes[2].bar([str(L) for L in lengths], [*per_len, err_long], color=["C0"] * max_len + ["C1"])
    axes[2].axhline(ctx.pick(quick=0.05, full=0.01), color="k", ls="--", lw=1, label="bar (mean of blue)")
    axes[2].set(
        xlabel="sequence length", ylabel="bit error", title=f"held-out bit error ({len(losses)} steps)"
    )
    axes[2].legend()
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        bars,
        bar=ctx.pick(
            quick="4-bit copy, lengths <= 5: bit error < 5%",
            full="8-bit copy, lengths <= 10: bit error < 1%, and at 2x length below an LSTM of similar size",
        ),
        config={
            "width": width,
            "max_len": max_len,
            "max_steps": steps,
            "max_attempts": attempts,
            "attempt_steps": attempt_steps,
            "stop_loss": stop_loss,
            "batch": batch,
            "lr": 1e-2,
            **vars(cfg),
        },
    )
