"""Lottery tickets: iterative magnitude pruning with rewinding, and its random re-init control.

Frankle & Carbin, "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks",
arXiv:1803.03635; late resetting (rewind to iterate k instead of 0): Frankle, Dziugaite, Roy,
Carbin, "Stabilizing the Lottery Ticket Hypothesis", arXiv:1903.01611.

    θ₀ ← init;  θ_k ← weights after k steps (k = 0: the init itself)
    repeat r rounds:  train θ ⊙ m to θ_T;  m ← prune_p(m, |θ_T|);  θ ← θ_k     (rewind)
    ticket = (θ_k, m);   control = (fresh random θ′, m)                       (random re-init)

The masks and ``weight_orig`` bookkeeping come from ``torch.nn.utils.prune`` (see
``magnitude.py``); here: snapshots, rewinding, the random re-init control and the IMP loop.

Departures: the training function is the caller's (any loop, any optimizer); a fresh optimizer
per round, as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from deltalab.prune.magnitude import (
    ensure_pruned,
    layer_rates,
    masks,
    prunable_layers,
    prune_layerwise,
    remaining_fraction,
)


def _refresh(model: nn.Module) -> None:
    """Recompute ``weight = weight_orig * weight_mask`` now (torch does it only before forward)."""
    for _, m in prunable_layers(model):
        if hasattr(m, "weight_mask"):
            m.weight = m.weight_orig * m.weight_mask


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the *dense* parameters under their unpruned names (``weight``, not ``weight_orig``)."""
    return {n.replace("weight_orig", "weight"): p.detach().clone() for n, p in model.named_parameters()}


@torch.no_grad()
def rewind_(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load ``state`` (from :func:`snapshot`) into the parameters, keeping the masks."""
    for n, p in model.named_parameters():
        key = n.replace("weight_orig", "weight")
        if key not in state:
            raise ValueError(f"snapshot has no entry {key!r}; it has {sorted(state)}")
        p.copy_(state[key])
    _refresh(model)
    return model


@torch.no_grad()
def random_reinit_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Re-draw every prunable layer's weights (and bias) with torch's default init, keeping its mask.

    The control of the lottery-ticket experiment: same architecture and mask, a fresh init.
    """
    for _, m in prunable_layers(model):
        w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
        fan_in = w[0].numel()
        bound = 1.0 / fan_in**0.5  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        w.uniform_(-bound, bound, generator=generator)
        if m.bias is not None:
            m.bias.uniform_(-bound, bound, generator=generator)
    _refresh(model)
    return model


@dataclass
class IMPRound:
    """One round of IMP: the remaining fraction it trained at and what training returned."""

    round: int
    remaining: float
    score: float
    masks: dict[str, torch.Tensor] = field(repr=False)


def iterative_magnitude_pruning(
    model: nn.Module,
    train: Callable[[nn.Module], float],
    rounds: int,
    rate: float = 0.2,
    output_rate: float | None = 0.1,
    rewind_to: dict[str, torch.Tensor] | None = None,
) -> list[IMPRound]:
    """Train, prune, rewind — ``rounds`` times, then train the final sparse net once more.

    model: initialized net (its current weights are θ₀ unless ``rewind_to`` gives θ_k).
    train: trains the model in place and returns a score (e.g. test accuracy).
    rate / output_rate: layer-wise pruning rates (output_rate for the last layer).
    Returns rounds + 1 entries: round 0 is the dense net, round r has (1 − rate)^r of the weights.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    rates: Sequence[float] = layer_rates(model, rate, output_rate)
    ensure_pruned(model)
    start = rewind_to if rewind_to is not None else snapshot(model)
    history: list[IMPRound] = []
    for r in range(rounds + 1):
        rewind_(model, start)
        frac = remaining_fraction(model)
        score = train(model)
        history.append(IMPRound(r, frac, float(score), masks(model)))
        if r < rounds:
            prune_layerwise(model, rates)
    return history
