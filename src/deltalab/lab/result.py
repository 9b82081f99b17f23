"""What an experiment returns, and how its verdict follows from what it measured.

An experiment never writes its verdict: it returns metrics and the bars they must clear, and
``Result.verdict`` is exactly the conjunction of those comparisons (the ``bar_spec`` of
result.json, which ``shared/tools/check-result.py`` recomputes).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Bar:
    """One comparison ``metrics[metric] <op> value``; a missing or non-finite metric fails it."""

    metric: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"bar op must be one of {sorted(OPS)}, got {self.op!r}")

    def holds(self, metrics: Mapping[str, float | None]) -> bool:
        v = metrics.get(self.metric)
        return v is not None and math.isfinite(v) and OPS[self.op](v, self.value)

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def clean_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float | int | None], list[str]]:
    """Numbers as plain floats/ints; non-finite values become None and are listed."""
    out: dict[str, float | int | None] = {}
    nonfinite: list[str] = []
    for k, v in metrics.items():
        if hasattr(v, "item"):  # torch / numpy scalars
            v = v.item()
        if isinstance(v, bool):
            v = int(v)
        if not isinstance(v, (int, float)):
            raise TypeError(f"metric {k!r} must be a number, got {type(v).__name__}")
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None
            nonfinite.append(k)
        else:
            out[k] = v
    return out, nonfinite


@dataclass
class Result:
    """Measured numbers, the bars they must clear, and what to show.

    metrics: finite scalars measured by the run (curves go to figures or ``ctx.series``).
    bars: the comparisons the verdict is the conjunction of.
    bar: the bar in words, as CLAIMS.md states it for this profile.
    figures: file names (relative to the run folder) written by ``ctx.savefig``.
    config: every knob the run used, so that two runs can be compared.
    message: anything the reader should know (e.g. why a bar is looser in quick).
    """

    metrics: dict[str, Any]
    bars: list[Bar]
    bar: str
    figures: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        if not self.bars:
            raise ValueError("a Result needs at least one Bar: the verdict is computed from bars")
        self.metrics, self.nonfinite = clean_metrics(self.metrics)
        missing = [b.metric for b in self.bars if b.metric not in self.metrics]
        if missing:
            raise ValueError(f"bars name metrics the result does not report: {missing}")

    @property
    def verdict(self) -> str:
        return "pass" if all(b.holds(self.metrics) for b in self.bars) else "fail"
