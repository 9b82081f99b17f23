"""Chapter R, claim ntm: a Neural Turing Machine learns copy and generalizes to longer inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.data.seq import SeqBatch, copy
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.nn.ntm import NTM, NTMConfig


class _LSTMBaseline(nn.Module):
    def __init__(self, input_size: int, output_size: int, hidden: int) -> None:
        super().__init__()
        self.rnn, self.head = nn.LSTM(input_size, hidden, batch_first=True), nn.Linear(hidden, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


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
    for _ in range(steps):
        L = int(torch.randint(1, max_len + 1, (1,), generator=g))
        b = copy(batch, L, width, generator=g)
        loss = F.binary_cross_entropy_with_logits(model(b.x)[b.mask], b.y[b.mask])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        losses.append(loss.item())
        if len(losses) >= window and sum(losses[-window:]) / window < stop_loss:
            break
    return losses


@experiment(
    chapter="R",
    title="A Neural Turing Machine learns to copy and generalizes to longer inputs",
    claim="a Neural Turing Machine (content + location addressing: k, β, g, s, γ; erase/add writes) learns "
    "copy and generalizes to longer inputs",
)
def ntm(ctx: Context):
    """`deltalab run ntm` — claim ntm. Quick: 4-bit vectors, lengths 1..5, a 16-unit controller,
    12 memory slots of width 10, batches of 64 (Adam 1e-2, clip 10) until the mean training loss of
    the last 50 batches is below 0.01 (at most 1500 batches); expected bit error < 5% on held-out
    sequences of lengths 1..5; the error at length 10 is reported. Measured bit error at seeds 0-11:
    6e-5, 0, 8e-4, 0, 0, 0, 9e-4, 2e-4, 0, 5e-4, 0, 8e-4 (after 608, 583, 403, 478, 519, 457, 522,
    1097, 577, 403, 696, 513 steps); at length 10: 0.3-15%. Before (32 units, 600 steps): seed 7
    failed (5.4%) and seed 9 passed by a hair (4.97%); both had stored the sequence in the controller
    (33% error at length 10, still 0.8% and 2.6% after 1500 steps). Not every seed: at seeds 12-19
    the quick profile fails at 12 and 15 (4.6%, 6.2%: partial solutions, not solved in 1500 steps).
    Tried without a fix: Adam 3e-3 (seeds 7, 9 still partial after 2000 steps); Collier & Beel's
    learned initial weightings, read-before-write, tanh key and ±20 output clip (fixes 7 and 9, breaks
    0, 1, 3); pytorch-ntm's small random fixed memory (fixes 7, not 9). Full: 8-bit, lengths 1..10,
    32-unit controller, at most 6000 batches with the same stop for the NTM and the LSTM; bit error
    < 1% and at length 20 below an LSTM of similar size; measured at seed 0: 4e-5, and 3e-5 at
    length 20 against the LSTM's 36% (NTM stopped after 915 steps; ~60 s idle). Quick profile:
    ~10 s per seed (idle, one thread; ~18 s at seed 7).
    """
    width, max_len = ctx.pick(quick=(4, 5), full=(8, 10))
    # at most `steps` batches of 64: training stops once the mean loss of the last 50 batches is below
    # 0.01 nats/bit (copy learnt: held-out bit error <= 0.1% at every seed 0-11 at that point), so a
    # seed that finds the memory program early stops early (~400-700 steps) and a slow one gets more
    steps, batch, stop_loss = ctx.pick(quick=1500, full=6000), 64, 0.01
    # slot width 10 and batch 64: with 6-wide slots and batch 32, seeds 2 and 4 settled in a partial
    # solution (bit error 6-8%). A 16-unit controller in the quick profile: 4-bit sequences of length
    # <= 5 are 20 bits, which a 32-unit LSTM holds in its own state; at seeds 7 and 9 it did so (bit
    # error 2.6% at length 5-ish, 33% at length 10, still not solved after 1500 steps) instead of
    # learning to address memory. 16 units cannot, and every seed 0-11 learnt the memory program.
    hidden = ctx.pick(quick=16, full=32)
    cfg = NTMConfig(width + 1, width, hidden_size=hidden, mem_slots=ctx.pick(quick=12, full=24), mem_width=10)
    torch.manual_seed(ctx.seed)
    model = NTM(cfg)
    losses = train_copy(model, steps, width, max_len, batch, ctx.seed, stop_loss)
    ctx.series("loss", losses)
    gt = torch.Generator().manual_seed(ctx.seed + 1)
    per_len = [bit_error(model, copy(200, L, width, generator=gt)) for L in range(1, max_len + 1)]
    err_in = sum(per_len) / max_len
    long = copy(200, 2 * max_len, width, generator=gt)
    err_long = bit_error(model, long)
    ctx.log(f"bit error {err_in:.4f} (lengths <= {max_len}), {err_long:.4f} at length {2 * max_len}")
    metrics = {"bit_error": err_in, "bit_error_2x_length": err_long, "train_steps": len(losses)}
    bars = [Bar("bit_error", "<", 0.05)]
    if not ctx.quick:
        torch.manual_seed(ctx.seed)
        lstm = _LSTMBaseline(width + 1, width, 64)
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
            "stop_loss": stop_loss,
            "batch": batch,
            "lr": 1e-2,
            **vars(cfg),
        },
    )
