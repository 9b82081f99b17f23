"""Magnitude pruning on ``torch.nn.utils.prune``: layer-wise and global, one-shot and iterative.

Han, Pool, Tran, Dally, "Learning both Weights and Connections for Efficient Neural Networks",
arXiv:1506.02626: train, remove the smallest-magnitude weights, retrain; repeat (iterative) or
prune once to the target (one-shot). Frankle & Carbin (arXiv:1803.03635) prune layer-wise at
fixed per-round rates (LeNet-300-100: 20% of the hidden layers' weights, 10% of the output
layer's per round), so after r rounds a layer keeps (1 − rate)^r of its weights.

    mask_l ← mask_l ⊙ [|w_l| > k-th smallest |w_l| among the unpruned]      (layer-wise)
    mask   ← mask   ⊙ [|w| > k-th smallest |w| over all prunable layers]    (global)

torch's pruning does the bookkeeping: a pruned module holds ``weight_orig`` (the parameter) and
``weight_mask`` (a buffer) and recomputes ``weight = weight_orig * weight_mask`` before each
forward; calling it again on a pruned module applies ``amount`` to the *remaining* weights,
which is exactly the iterative schedule. This file adds the layer selection, per-layer rates,
the theory for the remaining fraction, and a sparsity report.

Departures: biases are never pruned (as in the papers).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.utils.prune as tprune
from torch import nn

_PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) for every Linear / Conv layer, in forward-definition order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _PRUNABLE)]


def _check_amount(amount: float) -> None:
    if not 0 <= amount < 1:
        raise ValueError(f"pruning amount must be a fraction in [0, 1), got {amount}")


def layer_rates(model: nn.Module, rate: float, output_rate: float | None = None) -> list[float]:
    """Per-layer pruning rates: ``rate`` for every prunable layer, ``output_rate`` for the last."""
    layers = prunable_layers(model)
    rates = [rate] * len(layers)
    if output_rate is not None and layers:
        rates[-1] = output_rate
    for r in rates:
        _check_amount(r)
    return rates


def prune_layerwise(model: nn.Module, rates: float | Sequence[float]) -> nn.Module:
    """Remove the fraction ``rates[i]`` of layer i's *remaining* weights with the smallest |w|."""
    layers = prunable_layers(model)
    rates = [rates] * len(layers) if isinstance(rates, (int, float)) else list(rates)
    if len(rates) != len(layers):
        raise ValueError(f"need one rate per prunable layer ({len(layers)}), got {len(rates)}")
    for (_, m), r in zip(layers, rates):
        _check_amount(r)
        n_keep = int((m.weight_mask if hasattr(m, "weight_mask") else torch.ones_like(m.weight)).sum())
        tprune.l1_unstructured(m, "weight", amount=round(r * n_keep))
    return model


def prune_global(model: nn.Module, amount: float) -> nn.Module:
    """Remove the fraction ``amount`` of the remaining weights with the smallest |w| over all layers."""
    _check_amount(amount)
    params = [(m, "weight") for _, m in prunable_layers(model)]
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=amount)
    return model


def prune_global_to(model: nn.Module, sparsity: float) -> nn.Module:
    """Global magnitude pruning until the fraction ``sparsity`` of all prunable weights is pruned.

    Converts the target into torch's per-call amount (a fraction of the *remaining* weights):
    amount = 1 − (1 − sparsity) / (1 − current sparsity); so a schedule of targets (IMP's sweep)
    and a single call (one-shot) land on the same sparsity.
    """
    _check_amount(sparsity)
    now = 1 - remaining_fraction(model)  # an unpruned layer counts its nonzero weights
    if sparsity < now:
        raise ValueError(f"model is already {now:.4f} sparse; cannot prune back to {sparsity}")
    return prune_global(model, 1 - (1 - sparsity) / (1 - now))


def ensure_pruned(model: nn.Module) -> nn.Module:
    """Give every prunable layer an all-ones mask (so that masks and ``weight_orig`` exist)."""
    for _, m in prunable_layers(model):
        if not tprune.is_pruned(m) or not hasattr(m, "weight_mask"):
            tprune.identity(m, "weight")
    return model


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Layer name → its current 0/1 weight mask (all ones for an unpruned layer)."""
    return {
        n: (m.weight_mask if hasattr(m, "weight_mask") else torch.ones_like(m.weight)).detach().clone()
        for n, m in prunable_layers(model)
    }


def apply_masks(model: nn.Module, mask_by_layer: dict[str, torch.Tensor]) -> nn.Module:
    """Prune ``model`` with given masks (e.g. a ticket's, on a freshly initialized twin)."""
    for n, m in prunable_layers(model):
        tprune.custom_from_mask(m, "weight", mask_by_layer[n])
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold the masks into the weights (``weight`` becomes a plain parameter with exact zeros)."""
    for _, m in prunable_layers(model):
        if hasattr(m, "weight_mask"):
            tprune.remove(m, "weight")
    return model


def sparsity_report(model: nn.Module) -> list[dict[str, float | int | str]]:
    """One row per prunable layer and a ``total`` row: weights, remaining, remaining fraction."""
    rows: list[dict[str, float | int | str]] = []
    total = kept = 0
    for n, m in prunable_layers(model):
        w = m.weight_mask if hasattr(m, "weight_mask") else (m.weight != 0)
        k, t = int(w.sum()), w.numel()
        rows.append({"layer": n, "weights": t, "remaining": k, "fraction": k / t})
        total, kept = total + t, kept + k
    rows.append({"layer": "total", "weights": total, "remaining": kept, "fraction": kept / max(total, 1)})
    return rows


def remaining_fraction(model: nn.Module) -> float:
    """Fraction of prunable weights still unpruned."""
    return float(sparsity_report(model)[-1]["fraction"])


def expected_remaining(layer_sizes: Sequence[int], rates: Sequence[float], rounds: int) -> float:
    """Closed form of the remaining fraction after ``rounds`` of layer-wise pruning:
    Σ_l n_l (1 − r_l)^rounds / Σ_l n_l (the lottery-ticket paper's "% of weights remaining")."""
    if len(layer_sizes) != len(rates):
        raise ValueError(f"{len(layer_sizes)} layer sizes but {len(rates)} rates")
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    return sum(n * (1 - r) ** rounds for n, r in zip(layer_sizes, rates)) / sum(layer_sizes)
