"""Wall-clock timing: the median of repeated calls, and interleaved pairs for ratios.

Wall time on a shared machine drifts (load, frequency scaling), so a ratio of two callables is
measured in interleaved pairs — both see the same drift — and reported with its quartiles.
``sync`` (e.g. ``torch.cuda.synchronize``) makes asynchronous devices finish before the clock reads.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(
    fn: Callable[[], Any], repeats: int, *, warmup: int = 1, sync: Callable[[], None] | None = None
) -> float:
    """Median wall time of ``fn`` (seconds per call) over ``repeats`` calls after ``warmup`` calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def least_thread_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Least CPU time of this thread over ``repeats`` calls (seconds per call): a busy machine preempts
    the process, so wall time grows with the load, most for the longest calls (which bends a log-log
    slope); the thread's CPU time does not count the time it waited."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return min(times)


def time_pair(
    candidate: Callable[[], Any],
    baseline: Callable[[], Any] | None,
    *,
    repeats: int = 20,
    warmup: int = 3,
    inner: int = 1,
    sync: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Interleaved timing: ``warmup`` calls each, then ``repeats`` (candidate, baseline) pairs.

    Each sample runs the callable ``inner`` times. Returns medians (seconds per call) and the
    25th/75th percentiles of the per-pair ratio.
    """

    def once(fn: Callable[[], Any]) -> float:
        if sync:
            sync()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        if sync:
            sync()
        return (time.perf_counter() - t0) / inner

    for _ in range(warmup):
        candidate()
        if baseline is not None:
            baseline()
    cs, bs, ratios = [], [], []
    for i in range(repeats):
        # alternate which goes first so that neither always sees a warm cache
        if baseline is not None and i % 2:
            b = once(baseline)
            c = once(candidate)
        else:
            c = once(candidate)
            b = once(baseline) if baseline is not None else None
        cs.append(c)
        if b is not None:
            bs.append(b)
            ratios.append(c / b)
    out: dict[str, Any] = {
        "candidate": statistics.median(cs),
        "baseline": statistics.median(bs) if bs else None,
        "repeats": repeats,
    }
    if ratios:
        q = statistics.quantiles(ratios, n=4)
        out.update(ratio_p25=q[0], ratio_p75=q[2])
    return out
