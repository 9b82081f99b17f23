"""The bench registry: seeded benchmarks (median, range, per-seed rows), goal checks, skips, and the
CLI's --seeds and exit code (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from deltalab.bench.core import BENCHMARKS, BenchResult, benchmark, combine_seeds, run_benchmarks
from deltalab.cli import main


def test_combine_seeds_median_range_and_checks() -> None:
    rs = [
        BenchResult("x", c, b, "steps", 1, checks={"solves": ok}, extra={"end": e})
        for c, b, ok, e in [(10.0, 20.0, True, 500), (30.0, 40.0, True, 480), (20.0, 10.0, False, 9)]
    ]
    out = combine_seeds(rs, [0, 1, 2])
    assert out.candidate == 20.0 and out.baseline == 20.0 and out.ratio == 1.0
    assert out.extra["candidate_min"] == 10.0 and out.extra["candidate_max"] == 30.0
    assert [row["end"] for row in out.extra["per_seed"]] == [500, 480, 9]
    assert [row["seed"] for row in out.extra["per_seed"]] == [0, 1, 2]
    assert out.checks == {"solves": False}
    with pytest.raises(ValueError):
        combine_seeds(rs, [0, 1])


def test_meets_goal_needs_ratio_and_checks() -> None:
    r = BenchResult("x", 1.0, 2.0, "s", 3, goal=0.7, checks={"every seed solves": True})
    assert r.meets_goal is True and r.missed() == []
    r.checks["every seed solves"] = False
    assert r.meets_goal is False and r.missed() == ["every seed solves"]
    r = BenchResult("x", 3.0, 2.0, "s", 3, goal=0.7)
    assert r.meets_goal is False and r.missed() == ["ratio 1.5 not <= 0.7"]
    assert BenchResult("x", 3.0, None, "s", 1).meets_goal is None


def test_skipped_result_is_json_and_not_a_miss() -> None:
    r = BenchResult.skip("peer", "stable-baselines3 is not installed")
    d = r.to_json()
    assert d["skipped"] and d["meets_goal"] is None and d["ratio"] is None and d["candidate"] is None
    json.dumps(d, allow_nan=False)


@pytest.fixture
def toy_benchmarks():
    calls: list[int] = []

    @benchmark("zz-seeded", goal=0.7, better="lower", seeded=True)
    def _seeded(seed: int = 0) -> BenchResult:
        calls.append(seed)
        return BenchResult("zz-seeded", 10.0 + seed, 20.0, "steps", 1, checks={"solves": seed != 1})

    @benchmark("zz-plain", goal=2.0, better="lower")
    def _plain() -> BenchResult:
        return BenchResult("zz-plain", 1.0, 2.0, "s", 3)

    try:
        yield calls
    finally:
        del BENCHMARKS._entries["zz-seeded"], BENCHMARKS._entries["zz-plain"]


def test_run_benchmarks_seeds(toy_benchmarks) -> None:
    (res,) = run_benchmarks(["zz-seeded"], seeds=3)
    assert toy_benchmarks == [0, 1, 2]
    assert res.candidate == 11.0 and res.goal == 0.7 and res.repeats == 3
    assert res.meets_goal is False and res.missed() == ["solves"]
    (plain,) = run_benchmarks(["zz-plain"], seeds=3)
    assert plain.meets_goal is True and "per_seed" not in plain.extra


def test_cli_seeds_and_missed_goals(toy_benchmarks, tmp_path, capsys) -> None:
    out = tmp_path / "b.json"
    assert main(["bench", "zz-plain", "--seeds", "2", "--out", str(out)]) == 0
    assert main(["bench", "zz-*", "--seeds", "2", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "goal missed: zz-seeded: solves" in captured.err
    assert "median of seeds 0..1" in captured.out
    rows = json.loads(out.read_text())
    seeded = next(r for r in rows if r["name"] == "zz-seeded")
    assert seeded["seeds"] == [0, 1] and seeded["missed"] == ["solves"]
    assert main(["bench", "zz-plain", "--seeds", "0", "--out", str(out)]) == 2
