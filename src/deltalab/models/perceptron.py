"""The perceptron (Rosenblatt 1958), binary and multiclass, trained by its mistake-driven rule.

Written by hand: the learning rule *is* the lesson (torch ships no perceptron).

    binary:     ŷ = sign(wᵀx), x₀ = 1 (bias);   on a mistake  w ← w + t·x        (t ∈ {−1, +1})
    multiclass: ŷ = argmax_c w_cᵀx;             on a mistake  w_t ← w_t + x,  w_ŷ ← w_ŷ − x

Novikoff's theorem: on data separable with margin γ by a unit vector, with ‖x‖ ≤ R, the binary
rule makes at most (R/γ)² mistakes.

``average=True`` also keeps the averaged perceptron (Freund & Schapire, "Large Margin
Classification Using the Perceptron Algorithm", 1999; Collins 2002 for the multiclass form): the
mean of the weights after every example seen, w̄ = (1/c) Σ_s w_s, kept in O(1) per mistake by
the usual trick w̄ = w − u/c with u += s·Δw_s. The rule and its mistakes are unchanged; only the
predictor read out at the end is the average, which does not jump with the last few mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def with_bias(x: torch.Tensor) -> torch.Tensor:
    """(B, F) → (B, F+1) with x₀ = 1 prepended."""
    return torch.cat([torch.ones(len(x), 1, dtype=x.dtype), x], dim=1)


@dataclass
class Perceptron:
    """A perceptron on ``in_features`` inputs (bias added internally); ``num_classes`` 2 is binary
    (labels ±1), more is multiclass by argmax (labels 0..C−1)."""

    in_features: int
    num_classes: int = 2
    mistakes: int = 0
    average: bool = False
    """also keep the averaged weights (:meth:`averaged_weight`)"""
    weight: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        rows = 1 if self.num_classes == 2 else self.num_classes
        self.weight = torch.zeros(rows, self.in_features + 1, dtype=torch.float64)
        self._u = torch.zeros_like(self.weight)  # Σ_s s·Δw_s (averaging only)
        self._seen = 0  # examples seen (averaging only)

    def averaged_weight(self) -> torch.Tensor:
        """w̄: the mean of the weights after each example seen so far (needs ``average=True``)."""
        if not self.average:
            raise ValueError("averaged_weight needs Perceptron(..., average=True)")
        return self.weight - self._u / max(self._seen, 1)

    def predict(self, x: torch.Tensor, averaged: bool = False) -> torch.Tensor:
        """Labels by the current weights, or by the averaged ones with ``averaged=True``."""
        w = self.averaged_weight() if averaged else self.weight
        scores = with_bias(x.to(torch.float64)) @ w.T  # (B, rows)
        if self.num_classes == 2:
            return torch.where(scores[:, 0] >= 0, 1.0, -1.0).to(torch.float64)
        return scores.argmax(dim=1)

    def epoch(self, x: torch.Tensor, t: torch.Tensor, order: torch.Tensor | None = None) -> int:
        """One pass of the rule over (x, t); returns the mistakes made in it."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must be (B, {self.in_features}), got {tuple(x.shape)}")
        xb = with_bias(x.to(torch.float64))
        made = 0
        for i in order.tolist() if order is not None else range(len(xb)):
            xi = xb[i]
            # w_s is the weight after example s (1-based), so an update at s counts in s … c.
            s = self._seen + 1
            if self.num_classes == 2:
                if float(t[i]) * float(self.weight[0] @ xi) <= 0:
                    self.weight[0] += float(t[i]) * xi
                    if self.average:
                        self._u[0] += (s - 1) * float(t[i]) * xi
                    made += 1
            else:
                pred = int((self.weight @ xi).argmax())
                target = int(t[i])
                if pred != target:
                    self.weight[target] += xi
                    self.weight[pred] -= xi
                    if self.average:
                        self._u[target] += (s - 1) * xi
                        self._u[pred] -= (s - 1) * xi
                    made += 1
            self._seen = s
        self.mistakes += made
        return made

    def fit(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        max_epochs: int = 100,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Epochs until one makes no mistake (or ``max_epochs``); mistakes per epoch."""
        history = []
        for _ in range(max_epochs):
            order = torch.randperm(len(x), generator=generator) if generator is not None else None
            history.append(self.epoch(x, t, order))
            if history[-1] == 0:
                break
        return history
