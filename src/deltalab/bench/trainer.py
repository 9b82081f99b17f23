"""``trainer-overhead``: an epoch through the Trainer vs the same epoch as a bare torch loop.

Same model (a digits-sized MLP), data, batch order and optimizer; goal: ratio ≤ 1.05.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from deltalab.bench.core import BenchResult, benchmark, time_pair
from deltalab.models.mlp import MLP
from deltalab.train import TrainConfig, Trainer


def _setup(n: int = 2048, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor, int]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 64, generator=g), torch.randint(0, 10, (n,), generator=g), batch


def trainer_epoch_fns(n: int = 2048, batch: int = 64) -> tuple[Callable[[], None], Callable[[], None]]:
    """(candidate, baseline): one epoch by the Trainer, one epoch by a bare loop."""
    x, y, bs = _setup(n, batch)
    m1, m2 = MLP(64, [128, 128], 10), MLP(64, [128, 128], 10)
    m2.load_state_dict(m1.state_dict())
    trainer = Trainer(m1, TrainConfig(epochs=1, batch_size=bs, lr=1e-3, optimizer="adam", progress=False))
    opt = torch.optim.Adam(m2.parameters(), lr=1e-3)

    def candidate() -> None:
        trainer.epoch, trainer._batch_in_epoch, trainer.step = 0, 0, 0
        trainer.fit((x, y))

    def baseline() -> None:
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        for i in range(0, len(x), bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(m2(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()

    return candidate, baseline


@benchmark(goal=1.05, better="lower")
def trainer_overhead() -> BenchResult:
    """Trainer epoch time / bare-loop epoch time on the same MLP and batches."""
    cand, base = trainer_epoch_fns()
    t = time_pair(cand, base, repeats=20, warmup=2)
    return BenchResult.from_timing("trainer-overhead", t)
