"""The benchmark registry and the interleaved timer every benchmark uses.

A benchmark is a function ``() -> BenchResult`` registered with ``@benchmark(goal=..., better=...)``.
Most build a candidate and a baseline callable and hand them to :func:`time_pair`, which warms
both up, then times them in interleaved pairs (so that drift in the machine's speed hits both
alike) and reports the medians and the quartiles of the per-pair ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from deltalab.analysis.timing import time_pair
from deltalab.registry import Registry

__all__ = ["BENCHMARKS", "BenchResult", "benchmark", "run_benchmarks", "time_pair"]

BENCHMARKS: Registry = Registry("benchmark", package="deltalab.bench")


@dataclass
class BenchResult:
    """candidate / baseline: medians in ``unit``; ratio: candidate / baseline (candidate when no baseline)."""

    name: str
    candidate: float
    baseline: float | None
    unit: str
    repeats: int
    goal: float | None = None
    better: str = "lower"
    ratio_p25: float | None = None
    ratio_p75: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_timing(cls, name: str, t: dict[str, Any], unit: str = "s", **extra: Any) -> BenchResult:
        """A result from :func:`time_pair`'s medians and ratio quartiles; ``extra`` keys go to the JSON."""
        return cls(
            name,
            t["candidate"],
            t["baseline"],
            unit,
            t["repeats"],
            ratio_p25=t.get("ratio_p25"),
            ratio_p75=t.get("ratio_p75"),
            extra=extra,
        )

    @property
    def ratio(self) -> float:
        return self.candidate / self.baseline if self.baseline else self.candidate

    @property
    def meets_goal(self) -> bool | None:
        if self.goal is None:
            return None
        return self.ratio <= self.goal if self.better == "lower" else self.ratio >= self.goal

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d["ratio"] = self.ratio
        d["meets_goal"] = self.meets_goal
        d.update(extra)
        return d


def benchmark(name: str | None = None, *, goal: float | None, better: str = "lower") -> Callable[..., Any]:
    """Register ``fn(goal, better) -> BenchResult`` under ``name`` (default: function name, ``_`` → ``-``)."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")

    def wrap(fn: Callable[..., BenchResult]) -> Callable[..., BenchResult]:
        key = name or fn.__name__.replace("_", "-")

        def run() -> BenchResult:
            res = fn()
            res.name, res.goal, res.better = key, goal, better
            return res

        run.__doc__ = fn.__doc__
        BENCHMARKS.add(key, run)
        return fn

    return wrap


def run_benchmarks(
    names: list[str] | None = None, progress: Callable[[str], None] | None = None
) -> list[BenchResult]:
    """Run the named benchmarks (globs allowed; all when None), in name order."""
    import fnmatch

    from deltalab.registry import UnknownNameError

    known = BENCHMARKS.names()
    chosen: list[str] = []
    for pat in names or ["*"]:
        hits = [k for k in known if fnmatch.fnmatchcase(k, pat)]
        if not hits:
            raise UnknownNameError("benchmark", pat, known)
        chosen += [h for h in hits if h not in chosen]
    results = []
    for k in chosen:
        if progress:
            progress(f"bench {k} ...")
        results.append(BENCHMARKS.get(k)())
    return results
