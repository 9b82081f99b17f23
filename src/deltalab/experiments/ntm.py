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


def train_copy(model: nn.Module, steps: int, width: int, max_len: int, batch: int, seed: int) -> list[float]:
    """Adam (lr 1e-2, clip 10) on copy with one length per batch, uniform in 1..max_len; returns the
    losses."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        L = int(torch.randint(1, max_len + 1, (1,), generator=g))
        b = copy(batch, L, width, generator=g)
        loss = F.binary_cross_entropy_with_logits(model(b.x)[b.mask], b.y[b.mask])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        losses.append(loss.item())
    return losses


@experiment(
    chapter="R",
    title="A Neural Turing Machine learns to copy and generalizes to longer inputs",
    claim="a Neural Turing Machine (content + location addressing: k, β, g, s, γ; erase/add writes) learns "
    "copy and generalizes to longer inputs",
)
def ntm(ctx: Context):
    """`deltalab run ntm` — claim ntm. Quick: 4-bit vectors, lengths 1..5, 600 steps of batch 64
    (Adam 1e-2, clip 10), 10-wide memory slots; expected bit error < 5% on held-out sequences of
    lengths 1..5; the error at length 10 is reported. Measured bit error at seeds 0-7: 0, 5e-5, 0,
    5e-4, 0, 3e-4, 2e-4 and 5.4% at seed 7 (FAILS: a partial solution, 38% at length 10). Training
    is a lottery at every setting tried: batch 32 with 6-wide slots failed at seeds 2 and 4 (6%, 8%);
    batch 128, a 16- or 64-unit controller, 800 steps or a cosine-decayed rate each failed at one or
    two of seeds 0-7 (800 steps broke a solved seed 4: 16%). Full: 8-bit, lengths 1..10, bit error
    < 1% and at length 20 below an LSTM of similar size. Quick profile: ~25 s.
    """
    width, max_len = ctx.pick(quick=(4, 5), full=(8, 10))
    steps, batch = ctx.pick(quick=600, full=6000), 64
    # slot width 10 and batch 64: with 6-wide slots and batch 32, seeds 2 and 4 settled in a partial
    # solution (bit error 6-8%, still 7% at seed 4 after 1000 steps); 10-wide slots alone, or a
    # 16-unit controller, only moved the failure to another seed; both together fail only seed 7 of 0-7
    cfg = NTMConfig(width + 1, width, hidden_size=32, mem_slots=ctx.pick(quick=12, full=24), mem_width=10)
    torch.manual_seed(ctx.seed)
    model = NTM(cfg)
    losses = train_copy(model, steps, width, max_len, batch, ctx.seed)
    ctx.series("loss", losses)
    gt = torch.Generator().manual_seed(ctx.seed + 1)
    err_in = sum(bit_error(model, copy(200, L, width, generator=gt)) for L in range(1, max_len + 1)) / max_len
    long = copy(200, 2 * max_len, width, generator=gt)
    err_long = bit_error(model, long)
    ctx.log(f"bit error {err_in:.4f} (lengths <= {max_len}), {err_long:.4f} at length {2 * max_len}")
    metrics = {"bit_error": err_in, "bit_error_2x_length": err_long}
    bars = [Bar("bit_error", "<", 0.05)]
    if not ctx.quick:
        torch.manual_seed(ctx.seed)
        lstm = _LSTMBaseline(width + 1, width, 64)
        train_copy(lstm, steps, width, max_len, batch, ctx.seed)
        metrics["bit_error_2x_length_lstm"] = bit_error(lstm, long)
        metrics["lstm_minus_ntm_2x_length"] = metrics["bit_error_2x_length_lstm"] - err_long
        bars = [Bar("bit_error", "<", 0.01), Bar("lstm_minus_ntm_2x_length", ">", 0.0)]

    sample = copy(1, max_len, width, generator=gt)
    with torch.no_grad():
        model(sample.x, keep_trace=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key in zip(axes, ("write", "read")):
        ax.imshow(torch.cat(model.trace[key]).T.numpy(), aspect="auto", cmap="gray_r", vmin=0, vmax=1)
        ax.set(xlabel="time step", ylabel="memory slot", title=f"{key} weighting (copy, length {max_len})")
    ctx.savefig(fig)
    return ctx.result(
        metrics,
        bars,
        bar=ctx.pick(
            quick="4-bit copy, lengths <= 5: bit error < 5%",
            full="8-bit copy, lengths <= 10: bit error < 1%, and at 2x length below an LSTM of similar size",
        ),
        config={"width": width, "max_len": max_len, "steps": steps, "batch": batch, "lr": 1e-2, **vars(cfg)},
    )
