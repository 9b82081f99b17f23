"""Run experiments: select by id/glob/chapter, time each, catch errors, write the run folder.

``run(...)`` is the Python API under ``deltalab run``. Each claim runs under a per-claim timeout
(SIGALRM in the process that runs it); one that raises or times out is recorded as ``error`` and
the run goes on. The run is written into a staging folder and moved into place at the end, so an
existing ``--out`` is replaced whole and never mixes two runs.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from deltalab.lab.experiment import CHAPTERS, EXPERIMENTS, PROFILES, Context, ExperimentSpec
from deltalab.lab.registry import UnknownNameError
from deltalab.lab.report import provenance, write_run

SCHEMA = 1


class ClaimTimeout(Exception):
    pass


def select(names: Iterable[str] | None = None, chapters: Iterable[str] | None = None) -> list[ExperimentSpec]:
    """Experiments matching any of ``names`` (ids or globs) and any of ``chapters``; all if neither.

    An id or glob that matches nothing raises ``UnknownNameError`` with the closest ids.
    """
    names = list(names or [])
    chapters = [c.upper() for c in (chapters or [])]
    bad = [c for c in chapters if c not in CHAPTERS]
    if bad:
        raise ValueError(f"unknown chapter {bad[0]!r}; chapters are {' '.join(CHAPTERS)}")
    known = EXPERIMENTS.names()
    ids: list[str] = []
    for pat in names:
        hits = [i for i in known if fnmatch.fnmatchcase(i, pat)]
        if not hits:
            raise UnknownNameError("experiment", pat, known)
        ids += [h for h in hits if h not in ids]
    if not names:
        ids = known
    specs = [EXPERIMENTS.get(i) for i in ids]
    if chapters:
        specs = [s for s in specs if s.chapter in chapters]
    order = {c: k for k, c in enumerate(CHAPTERS)}
    return sorted(specs, key=lambda s: (order[s.chapter], known.index(s.id))) if not names else specs


def _alarm(signum: int, frame: Any) -> None:
    raise ClaimTimeout()


def run_one(
    spec_id: str,
    profile: str,
    seed: int,
    device: str,
    out_dir: str,
    timeout: float,
    verbose: bool = True,
    threads: int = 1,
) -> dict[str, Any]:
    """Run one experiment and return its claim record (never raises for the experiment's errors).

    torch's intra-op thread count is pinned to ``threads`` for the claim and restored afterwards:
    float results (and so marginal verdicts) depend on it, and no claim may change it for the next.
    """
    import torch

    from deltalab.train.seed import seed_everything

    spec = EXPERIMENTS.get(spec_id)
    ctx = Context(spec.id, profile=profile, seed=seed, device=device, out_dir=Path(out_dir), verbose=verbose)
    record: dict[str, Any] = {
        "id": spec.id,
        "chapter": spec.chapter,
        "title": spec.title,
        "claim": spec.claim,
        "expected": spec.expected_for(profile),
        "reason": spec.reason,
    }
    use_alarm = timeout > 0 and hasattr(signal, "SIGALRM")
    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        seed_everything(seed)
        res = spec.fn(ctx)
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        record.update(
            verdict=res.verdict,
            metrics=res.metrics,
            nonfinite=res.nonfinite,
            bar=res.bar,
            bar_spec=[b.to_json() for b in res.bars],
            config=res.config,
            figures=res.figures or list(ctx.figures),
            message=res.message,
        )
    except ClaimTimeout:
        record.update(_error_fields(ctx, f"timed out after {timeout:.0f} s (per-claim limit)"))
    except Exception as e:  # noqa: BLE001 - an experiment's failure is recorded, the run goes on
        tb = traceback.format_exc(limit=-3)
        record.update(_error_fields(ctx, f"{type(e).__name__}: {e}\n{tb}"))
    finally:
        torch.set_num_threads(prev_threads)
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["series"] = ctx.series_data
    return record


def _error_fields(ctx: Context, message: str) -> dict[str, Any]:
    return {
        "verdict": "error",
        "metrics": {},
        "nonfinite": [],
        "bar": "",
        "bar_spec": [],
        "config": {},
        "figures": list(ctx.figures),
        "message": message.strip(),
    }


def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def run(
    names: Iterable[str] | None = None,
    *,
    chapters: Iterable[str] | None = None,
    profile: str = "quick",
    seed: int = 0,
    device: str = "cpu",
    out: str | Path | None = None,
    jobs: int = 1,
    timeout: float = 300.0,
    verbose: bool = True,
    argv: list[str] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Run the selected experiments; write ``result.json``, ``report.html``, figures; return the document.

    ``threads`` pins torch's intra-op threads per claim (default 1: the numbers, and so the verdicts,
    are then the same on any machine; the small models here gain little from more threads).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    from deltalab.train.seed import resolve_device

    resolve_device(device)
    specs = select(names, chapters)
    started = _dt.datetime.now(_dt.timezone.utc)
    out_path = Path(out) if out is not None else Path("runs") / _stamp()
    if out_path.exists() and not out_path.is_dir():
        raise ValueError(f"--out {out_path} exists and is not a folder")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = out_path.parent / f".{out_path.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()

    def say(msg: str) -> None:
        if verbose:
            print(msg, file=sys.stderr, flush=True)

    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def done(rec: dict[str, Any]) -> None:
        records.append(rec)
        tally = {v: sum(r["verdict"] == v for r in records) for v in ("pass", "fail", "error")}
        mark = "" if rec["verdict"] == rec["expected"] else "  (unexpected)"
        say(
            f"[{len(records)}/{len(specs)}] {rec['id']}: {rec['verdict']}{mark} in {rec['seconds']:.1f}s"
            f"  | pass {tally['pass']} fail {tally['fail']} error {tally['error']}"
            f"  | elapsed {time.perf_counter() - t0:.0f}s"
        )
        if rec["verdict"] == "error":
            say("    " + rec["message"].splitlines()[0])

    try:
        if jobs == 1:
            for spec in specs:
                say(f"-> {spec.id} ({spec.chapter}: {spec.title})")
                done(run_one(spec.id, profile, seed, device, str(staging), timeout, verbose, threads))
        else:
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                futs = {
                    s.id: pool.submit(
                        run_one, s.id, profile, seed, device, str(staging), timeout, False, threads
                    )
                    for s in specs
                }
                for s in specs:
                    done(futs[s.id].result())
            order = {s.id: k for k, s in enumerate(specs)}
            records.sort(key=lambda r: order[r["id"]])
        doc = {
            "schema": SCHEMA,
            "profile": profile,
            "seed": seed,
            "device": device,
            "started": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "seconds": round(time.perf_counter() - t0, 3),
            "provenance": {**provenance(argv if argv is not None else sys.argv), "threads": threads},
            "claims": records,
        }
        write_run(staging, doc)
        if out_path.exists():
            shutil.rmtree(out_path)
        staging.rename(out_path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    doc["out"] = str(out_path)
    say(f"report: {out_path / 'report.html'}")
    return doc


def exit_code(doc: dict[str, Any]) -> int:
    """0 iff every verdict equals its expectation (an unexpected pass is a failure too)."""
    return 0 if all(c["verdict"] == c["expected"] for c in doc["claims"]) else 1
