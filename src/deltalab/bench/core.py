"""The benchmark registry and the interleaved timer every benchmark uses.

A benchmark is a function ``() -> BenchResult`` registered with ``@benchmark(goal=..., better=...)``.
Most build a candidate and a baseline callable and hand them to :func:`time_pair`, which warms
both up, then times them in interleaved pairs (so that drift in the machine's speed hits both
alike) and reports the medians and the quartiles of the per-pair ratio.

A benchmark whose outcome depends on a seed (steps to solve an environment, accuracy after
training) is registered with ``seeded=True`` and takes ``seed``; :func:`run_benchmarks` runs it at
seeds ``0 .. seeds-1`` and :func:`combine_seeds` reports the median of the candidate and of the
baseline (the ratio is median / median), the range, and every seed's result. ``checks`` are named
conditions that are part of the goal (e.g. "every seed solves"): a result meets its goal when the
ratio does and every check holds (over seeds: a check holds when it holds at every seed).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from deltalab.analysis.timing import time_pair
from deltalab.registry import Registry

__all__ = ["BENCHMARKS", "BenchResult", "benchmark", "combine_seeds", "run_benchmarks", "time_pair"]

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
    checks: dict[str, bool] = field(default_factory=dict)
    skipped: str | None = None

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
    def ratio_ok(self) -> bool | None:
        """Whether the ratio alone meets ``goal`` (None without a goal)."""
        if self.goal is None:
            return None
        return self.ratio <= self.goal if self.better == "lower" else self.ratio >= self.goal

    @property
    def meets_goal(self) -> bool | None:
        """The ratio meets ``goal`` and every check holds (None: no goal and no checks, or skipped)."""
        if self.skipped is not None or (self.goal is None and not self.checks):
            return None
        return self.ratio_ok is not False and all(self.checks.values())

    def missed(self) -> list[str]:
        """The parts of the goal that were missed, in words (empty when it is met or there is none)."""
        out = []
        if self.skipped is None and self.ratio_ok is False:
            op = "<=" if self.better == "lower" else ">="
            out.append(f"ratio {self.ratio:.4g} not {op} {self.goal:g}")
        if self.skipped is None:
            out += [k for k, ok in self.checks.items() if not ok]
        return out

    def summary(self) -> str:
        """One line for a terminal: the ratio, the two medians, the spread over seeds, the goal
        (and a second line with ``extra["note"]`` where a benchmark gives one)."""
        if self.skipped is not None:
            return f"{self.name:26s} skipped: {self.skipped}"
        goal = ""
        if self.goal is not None or self.checks:
            target = "" if self.goal is None else f" {'<=' if self.better == 'lower' else '>='} {self.goal:g}"
            goal = f"  goal{target}: " + ("met" if self.meets_goal else "NOT met")
        base = "-" if self.baseline is None else f"{self.baseline:.4g}"
        spread = ""
        if "per_seed" in self.extra:
            spread = (
                f" median of seeds {self.extra['seeds'][0]}..{self.extra['seeds'][-1]},"
                f" range {self.extra['candidate_min']:.4g}..{self.extra['candidate_max']:.4g}"
            )
        note = f"\n{'':26s} {self.extra['note']}" if "note" in self.extra else ""
        return (
            f"{self.name:26s} ratio {self.ratio:8.4g}  ({self.candidate:.4g} vs {base} {self.unit}{spread}){goal}"
            + note
        )

    @classmethod
    def skip(cls, name: str, why: str) -> BenchResult:
        """A benchmark that could not run here (e.g. an optional peer library is missing)."""
        return cls(name, float("nan"), None, "", 0, skipped=why)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        if self.skipped is not None:  # NaN is not JSON
            d["candidate"] = None
        d["ratio"] = None if self.skipped is not None else self.ratio
        d["meets_goal"] = self.meets_goal
        d["missed"] = self.missed()
        d.update(extra)
        return d


def combine_seeds(results: list[BenchResult], seeds: list[int]) -> BenchResult:
    """One result from the same benchmark at several seeds: medians, range, per-seed rows.

    candidate / baseline: the medians over seeds (ratio = median / median: the peer's median is
    the yardstick); ``candidate_min`` / ``candidate_max``: the range; a check holds when it holds
    at every seed; ``per_seed``: each seed's candidate, baseline, checks and extra keys.
    """
    if not results or len(results) != len(seeds):
        raise ValueError(f"need one result per seed, got {len(results)} results for seeds {seeds}")
    first = results[0]
    if any(r.skipped is not None for r in results):
        return first
    cands = [r.candidate for r in results]
    bases = [r.baseline for r in results]
    baseline = statistics.median(bases) if all(b is not None for b in bases) else None  # type: ignore[type-var]
    checks = {k: all(r.checks.get(k, False) for r in results) for k in first.checks}
    per_seed = [
        {"seed": s, "candidate": r.candidate, "baseline": r.baseline, **r.checks, **r.extra}
        for s, r in zip(seeds, results)
    ]
    extra = {
        "seeds": list(seeds),
        "candidate_min": min(cands),
        "candidate_max": max(cands),
        "per_seed": per_seed,
    }
    if baseline is not None:
        extra.update(baseline_min=min(bases), baseline_max=max(bases))  # type: ignore[type-var]
    return BenchResult(
        first.name,
        statistics.median(cands),
        baseline,
        first.unit,
        len(results),
        goal=first.goal,
        better=first.better,
        extra=extra,
        checks=checks,
    )


def benchmark(
    name: str | None = None, *, goal: float | None, better: str = "lower", seeded: bool = False
) -> Callable[..., Any]:
    """Register ``fn() -> BenchResult`` under ``name`` (default: function name, ``_`` → ``-``).

    seeded: ``fn`` takes ``seed=`` and its outcome depends on it; the registered runner takes
    ``seeds`` (a count) and combines seeds ``0 .. seeds-1`` with :func:`combine_seeds`.
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")

    def wrap(fn: Callable[..., BenchResult]) -> Callable[..., BenchResult]:
        key = name or fn.__name__.replace("_", "-")

        def label(res: BenchResult) -> BenchResult:
            res.name, res.goal, res.better = key, goal, better
            return res

        def run(seeds: int = 1) -> BenchResult:
            if not seeded:
                return label(fn())
            if seeds < 1:
                raise ValueError(f"seeds must be >= 1, got {seeds}")
            chosen = list(range(seeds))
            return label(combine_seeds([label(fn(seed=s)) for s in chosen], chosen))

        run.__doc__ = fn.__doc__
        run.seeded = seeded  # type: ignore[attr-defined]
        BENCHMARKS.add(key, run)
        return fn

    return wrap


def run_benchmarks(
    names: list[str] | None = None, progress: Callable[[str], None] | None = None, seeds: int = 1
) -> list[BenchResult]:
    """Run the named benchmarks (globs allowed; all when None), in name order; seeded ones at
    seeds ``0 .. seeds-1`` (the others once)."""
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
        results.append(BENCHMARKS.get(k)(seeds=seeds))
    return results
