"""Chapter O benchmarks run (tiny sizes; never a timing assertion)."""

from __future__ import annotations

import math

from deltalab.bench.core import BENCHMARKS
from deltalab.bench.optim import muon_step_sized, ns_short_side_sized, ns_vs_svd_sized, ns_vs_svd_sweep


def test_registered() -> None:
    assert {"muon-step", "newton-schulz-vs-svd", "ns-short-side"} <= set(BENCHMARKS.names())


def test_each_runs_tiny() -> None:
    for res in (
        muon_step_sized(((8, 8), (8, 4)), repeats=2),
        ns_vs_svd_sized(16, 4, repeats=2),
        ns_short_side_sized(16, 4, repeats=2),
    ):
        assert res.baseline is not None and math.isfinite(res.ratio) and res.repeats == 2
        assert set(res.to_json()) >= {
            "name",
            "candidate",
            "baseline",
            "ratio",
            "unit",
            "repeats",
            "goal",
            "better",
        }


def test_ns_svd_sweep_reports_every_shape_and_where_ns_wins() -> None:
    res = ns_vs_svd_sweep(short_sides=(4, 8), aspects=(1, 4, 16), max_rows=64, repeats=2, headline=(32, 8))
    grid = res.extra["grid"]
    shapes = {(p["rows"], p["cols"]) for p in grid}
    assert shapes == {(4, 4), (16, 4), (64, 4), (8, 8), (32, 8)}  # 128×8 is over max_rows
    assert {p["dtype"] for p in grid} == set(res.extra["dtypes"]) and "float32" in res.extra["dtypes"]
    assert res.extra["headline_shape"] == [32, 8] and res.goal is None and res.meets_goal is None
    assert res.extra["ns_wins"] == [f"{p['rows']}x{p['cols']} {p['dtype']}" for p in grid if p["ratio"] < 1]
    assert all(p["ratio"] == p["ns_s"] / p["svd_s"] for p in grid)
