"""Run experiments: select by id/glob/chapter, run each at several seeds, write the run folder.

``run(...)`` is the Python API under ``deltalab run``. Every selected claim runs at seeds
S…S+N−1 (``seed``, ``seeds``); the (claim, seed) runs are spread over ``jobs`` processes, each
under a per-seed timeout (SIGALRM in the process that runs it). A seed-run that raises or times
out is recorded as ``error`` and the run goes on. ``lab.aggregate`` folds a claim's seeds into its
verdict (pass / fail / unstable / error) and result.json is schema 2 (``shared/DESIGN.md``).

Nothing the user did not ask to replace is touched: ``--out`` may be a new folder, an empty one,
or one a previous run wrote (it has ``result.json`` or the ``.deltalab-run`` marker); anything
else, the current folder and its parents are refused before any work starts. The run is written
into a staging folder beside ``--out`` and moved into place at the end, so ``--out`` is replaced
whole and never mixes two runs, and an interrupted run leaves the old one as it was.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import math
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from deltalab.lab.aggregate import aggregate, verdict_label
from deltalab.lab.book import write_run_book
from deltalab.lab.experiment import CHAPTERS, EXPERIMENTS, PROFILES, Context, ExperimentSpec
from deltalab.lab.outdir import RUN_MARKER, check_out, swap_into_place
from deltalab.lab.processes import follow_parent, raise_interrupt, remove_stale_staging
from deltalab.lab.report import provenance, write_run
from deltalab.registry import UnknownNameError

SCHEMA = 2
MAX_SEED = 2**32 - 1
"""seeds go to numpy too, which takes 32 bits"""


class ClaimTimeout(Exception):
    pass


def select(
    names: Iterable[str] | str | None = None, chapters: Iterable[str] | None = None
) -> list[ExperimentSpec]:
    """Experiments matching any of ``names`` (ids or globs) and any of ``chapters``; all if neither.

    An id or glob that matches nothing raises ``UnknownNameError`` with the closest ids.
    """
    names = _check_names(names) or []
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
    So are the threads of the BLAS libraries NumPy, SciPy and scikit-learn call (OpenBLAS starts one
    per core: in a run of ``--jobs`` processes they competed with the other jobs and spun).
    """
    import torch

    from deltalab.train.seed import seed_everything

    spec = EXPERIMENTS.get(spec_id)
    ctx = Context(spec.id, profile=profile, seed=seed, device=device, out_dir=Path(out_dir), verbose=verbose)
    record: dict[str, Any] = {
        "seed": seed,
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
        with threadpool_limits(limits=threads, user_api="blas"):
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
        record.update(_error_fields(ctx, f"timed out after {timeout:g} s (the per-seed limit, --timeout)"))
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


def _check_seeds(seed: Any, seeds: Any) -> list[int]:
    for name, v in (("seed", seed), ("seeds", seeds)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be a whole number, got {v!r}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if seed < 0 or seed + seeds - 1 > MAX_SEED:
        raise ValueError(f"seeds {seed}..{seed + seeds - 1} must lie in 0..{MAX_SEED} (2**32 - 1)")
    return list(range(seed, seed + seeds))


def _check_names(names: Iterable[str] | str | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return [names]  # run("ce-vs-mse") means that claim, not the ids 'c', 'e', ...
    names = list(names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ValueError(f"claim ids must be strings, got {bad[0]!r}")
    return names


def run(
    names: Iterable[str] | str | None = None,
    *,
    chapters: Iterable[str] | None = None,
    profile: str = "quick",
    seed: int = 0,
    seeds: int = 3,
    device: str = "cpu",
    out: str | Path | None = None,
    jobs: int | None = None,
    timeout: float = 300.0,
    verbose: bool = True,
    argv: list[str] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Run the selected claims at seeds ``seed … seed+seeds−1``; write the run folder; return result.json.

    ``jobs`` processes share the (claim, seed) runs (default: the number of cores; 1 runs them in
    this process). ``threads`` pins torch's intra-op threads per seed-run (default 1: the numbers,
    and so the verdicts, are then the same on any machine). ``timeout`` bounds one seed-run.
    Everything is checked before any experiment starts.
    """
    names = _check_names(names)
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    seed_list = _check_seeds(seed, seeds)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    from deltalab.train.seed import resolve_device

    resolve_device(device)
    specs = select(names, chapters)
    out_path = check_out(out if out is not None else Path("runs") / _stamp())
    started = _dt.datetime.now(_dt.timezone.utc)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_path)
    staging = out_path.parent / f".{out_path.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    (staging / RUN_MARKER).touch()

    def say(msg: str) -> None:
        if verbose:
            print(msg, file=sys.stderr, flush=True)

    # Seed-major order; the claims of one group (``@experiment(group=...)``) and seed form one task,
    # run in one process, so that what they share through ctx.cached is built once per seed (it is
    # never shared across seeds).
    bundles = _bundles(specs)
    tasks = [(ids, sd) for sd in seed_list for ids in bundles]
    n_runs = len(specs) * len(seed_list)
    jobs = min(jobs, len(tasks))
    by_claim: dict[str, list[dict[str, Any]]] = {s.id: [] for s in specs}
    claims: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()

    def seed_dir(sd: int) -> Path:
        return staging if sd == seed_list[0] else staging / f"seed-{sd}"

    def done(rec: dict[str, Any]) -> None:
        sd = rec["seed"]
        if sd != seed_list[0]:
            rec["figures"] = [f"seed-{sd}/{f}" for f in rec["figures"]]
        by_claim[rec["id"]].append(rec)
        n = sum(map(len, by_claim.values()))
        tally = {
            v: sum(r["verdict"] == v for rs in by_claim.values() for r in rs)
            for v in ("pass", "fail", "error")
        }
        say(
            f"[{n}/{n_runs}] {rec['id']} seed {sd}: {rec['verdict']} {rec['seconds']:.1f} s"
            f"  | pass {tally['pass']} fail {tally['fail']} error {tally['error']}"
            f"  | elapsed {time.perf_counter() - t0:.0f} s"
        )
        if rec["verdict"] == "error":
            say("    " + rec["message"].splitlines()[0])
        if len(by_claim[rec["id"]]) == len(seed_list):
            c = aggregate(by_claim[rec["id"]])
            claims[c["id"]] = c
            mark = "" if c["verdict"] == c["expected"] else f"  <-- expected {c['expected']}"
            if len(seed_list) > 1:
                say(f"    {c['id']}: {verdict_label(c)} over seeds {seed_list[0]}..{seed_list[-1]}{mark}")

    # SIGTERM (a `kill`, a scheduler's stop) ends the run like Ctrl-C: no staging folder is left
    # behind and no worker keeps running (SIGINT reaches the workers by itself; SIGTERM does not).
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, raise_interrupt) if in_main else None
    try:
        if jobs == 1:
            for ids, sd in tasks:
                for sid in ids:
                    say(f"-> {sid} seed {sd} ({EXPERIMENTS.get(sid).title})")
                    done(run_one(sid, profile, sd, device, str(seed_dir(sd)), timeout, verbose, threads))
        else:
            others = set(multiprocessing.active_children())
            pool = ProcessPoolExecutor(
                jobs, mp_context=get_context("spawn"), initializer=follow_parent, initargs=(os.getpid(),)
            )
            pending: set[Future[list[dict[str, Any]]]] = {
                pool.submit(run_bundle, ids, profile, sd, device, str(seed_dir(sd)), timeout, threads)
                for ids, sd in tasks
            }
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        for rec in f.result():
                            done(rec)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                for child in set(multiprocessing.active_children()) - others:  # the pool's workers
                    child.terminate()
                raise
            pool.shutdown()
        doc = {
            "schema": SCHEMA,
            "profile": profile,
            "seed": seed_list[0],
            "seeds": seed_list,
            "device": device,
            "started": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "seconds": round(time.perf_counter() - t0, 3),
            "provenance": {
                **provenance(argv if argv is not None else sys.argv),
                "threads": threads,
                "jobs": jobs,
            },
            "claims": [claims[s.id] for s in specs],
        }
        write_run(staging, doc)
        # the lab book (book/index.html, a page per claim) beside result.json; it never fails the run
        write_run_book(staging, doc)
        _replace(staging, out_path)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    doc["out"] = str(out_path)
    say(f"report: {out_path / 'report.html'}; book: {out_path / 'book' / 'index.html'}")
    return doc


def _bundles(specs: list[ExperimentSpec]) -> list[list[str]]:
    """Claim ids in run order, a group's members together (at its first member's place)."""
    out: list[list[str]] = []
    seen: dict[str, list[str]] = {}
    for s in specs:
        if not s.group:
            out.append([s.id])
        elif s.group in seen:
            seen[s.group].append(s.id)
        else:
            seen[s.group] = [s.id]
            out.append(seen[s.group])
    return out


def run_bundle(
    ids: list[str], profile: str, seed: int, device: str, out_dir: str, timeout: float, threads: int
) -> list[dict[str, Any]]:
    """``run_one`` for each claim of a bundle, in order, in this process (a pool worker's task)."""
    return [run_one(i, profile, seed, device, out_dir, timeout, False, threads) for i in ids]


def _replace(staging: Path, out_path: Path) -> None:
    """Move the finished run into place; an old run there is swapped out first, then removed."""
    check_out(out_path)  # the folder may have changed while the run ran
    swap_into_place(staging, out_path)


def exit_code(doc: dict[str, Any]) -> int:
    """0 iff every verdict equals its expectation (an unexpected pass, an unstable claim: 1)."""
    return 0 if all(c["verdict"] == c["expected"] for c in doc["claims"]) else 1
