"""Chapter O benchmarks run (tiny sizes; never a timing assertion)."""

from __future__ import annotations

import math

from deltalab.bench.core import BENCHMARKS
from deltalab.bench.optim import muon_step_sized, ns_short_side_sized, ns_vs_svd_sized


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
