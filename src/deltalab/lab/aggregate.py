"""Seeds decide verdicts: fold one claim's per-seed runs into its schema-2 record.

A claim runs at seeds S…S+N−1. Each seed's verdict follows from ``bar_spec`` over that seed's
metrics; the claim's verdict is

    pass      every seed passes
    fail      every seed fails
    unstable  the seeds disagree (never equal to an expectation: a result that depends on the seed
              is not a result)
    error     any seed raised or timed out

``metrics`` are the per-metric means over seeds (``None`` where a seed has none), ``spread`` their
``{min, max, std}`` (sample standard deviation; 0 for one seed), ``seconds`` the sum over seeds.
See ``shared/DESIGN.md`` ("Seeds decide verdicts") and ``result.example.json``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

VERDICTS = ("pass", "fail", "unstable", "error")

# Fields a seed-run carries that are the same for every seed (the first seed's are kept).
_CLAIM_FIELDS = ("id", "chapter", "title", "claim", "expected", "reason")


def seed_verdicts(runs: Sequence[dict[str, Any]]) -> str:
    """The claim's verdict from its seeds' verdicts (see the module docstring)."""
    if not runs:
        raise ValueError("a claim needs at least one seed-run")
    verdicts = [r["verdict"] for r in runs]
    bad = [v for v in verdicts if v not in ("pass", "fail", "error")]
    if bad:
        raise ValueError(f"a seed's verdict must be pass, fail or error, got {bad[0]!r}")
    if "error" in verdicts:
        return "error"
    if all(v == "pass" for v in verdicts):
        return "pass"
    if all(v == "fail" for v in verdicts):
        return "fail"
    return "unstable"


def mean_and_spread(
    runs: Sequence[dict[str, Any]],
) -> tuple[dict[str, float | None], dict[str, dict[str, float]]]:
    """Per-metric mean and ``{min, max, std}`` over the seeds that errored none.

    A metric that some seed lacks (or measured as non-finite, i.e. ``None``) has mean ``None`` and no
    spread: averaging over the seeds that happen to have it would hide the failure.
    """
    names: list[str] = []
    for r in runs:
        names += [k for k in r.get("metrics", {}) if k not in names]
    means: dict[str, float | None] = {}
    spread: dict[str, dict[str, float]] = {}
    for k in names:
        vals = [r.get("metrics", {}).get(k) for r in runs]
        if any(v is None for v in vals):
            means[k] = None
            continue
        xs = [float(v) for v in vals]
        means[k] = math.fsum(xs) / len(xs)
        spread[k] = {
            "min": min(xs),
            "max": max(xs),
            "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
        }
    return means, spread


def by_verdict(runs: Sequence[dict[str, Any]]) -> str:
    """``'pass at 1, 2; fail at 0'``: which seeds reached which verdict."""
    parts = []
    for v in ("pass", "fail", "error"):
        seeds = [str(r["seed"]) for r in runs if r["verdict"] == v]
        if seeds:
            parts.append(f"{v} at {', '.join(seeds)}")
    return "; ".join(parts)


def verdict_label(claim: dict[str, Any]) -> str:
    """How a claim's verdict reads beside its expectation: 'pass', 'expected fail', 'unstable (…)'."""
    v, e = claim["verdict"], claim.get("expected", "pass")
    if v == "fail" and e == "fail":
        return "expected fail"
    if v == "pass" and e == "fail":
        return "unexpected pass"
    if v == "unstable":
        return f"unstable ({by_verdict(claim.get('runs', []))})"
    return v


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One claim's schema-2 record from its seed-runs (each a ``run_one`` record with ``seed``).

    Descriptive fields (bar, bar_spec, config, figures, series) come from the first seed that did
    not error (the bars are the same at every seed; the figures of the other seeds are linked from
    ``runs``). The message says which seeds disagree or errored.
    """
    runs = sorted(runs, key=lambda r: r["seed"])
    first = runs[0]
    ok = [r for r in runs if r["verdict"] != "error"]
    ref = ok[0] if ok else first
    verdict = seed_verdicts(runs)
    # an errored seed has no metrics, so every mean is None then: nothing averages around the error
    means, spread = mean_and_spread(runs)
    notes = []
    if verdict == "unstable":
        notes.append("seeds disagree: " + by_verdict(runs))
    for r in runs:
        if r.get("message"):
            notes.append(f"seed {r['seed']}: {r['message']}")
    record: dict[str, Any] = {k: first[k] for k in _CLAIM_FIELDS if k in first}
    record.update(
        verdict=verdict,
        metrics=means,
        spread=spread,
        runs=[
            {
                "seed": r["seed"],
                "verdict": r["verdict"],
                "metrics": r.get("metrics", {}),
                "seconds": r["seconds"],
                **({"figures": r["figures"]} if r.get("figures") and r is not ref else {}),
                **({"message": r["message"]} if r.get("message") else {}),
            }
            for r in runs
        ],
        nonfinite=sorted({k for r in runs for k in r.get("nonfinite", [])}),
        bar=ref.get("bar", ""),
        bar_spec=ref.get("bar_spec", []),
        config=ref.get("config", {}),
        seconds=round(math.fsum(r["seconds"] for r in runs), 3),
        figures=list(ref.get("figures", [])),
        message="\n".join(notes),
    )
    if ref.get("series"):
        record["series"] = ref["series"]
    return record
