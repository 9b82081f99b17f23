"""``deltalab``: list | run | report | book | train | bench | generate. Thin: it parses and calls the layers below.

Exit codes: 0 success (``run``: every verdict equals its expectation), 1 a verdict differs or a
benchmark/training failed, 2 a usage error (unknown name, bad value). With ``--json``, stdout is
exactly one JSON document and everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from deltalab import argtypes
from deltalab.lab.experiment import CHAPTERS, PROFILES
from deltalab.train.config import TrainConfig


class UsageError(Exception):
    pass


def _chapter(value: str) -> str:
    v = value.upper()
    if v not in CHAPTERS:
        raise argparse.ArgumentTypeError(f"unknown chapter {value!r}; chapters are {' '.join(CHAPTERS)}")
    return v


MAX_GENERATE = 1024
"""samples one `generate` draws at most (100000 8x8 samples through the U-Net took 2.4 GB)"""
# TrainConfig fields that `deltalab train` exposes (help and defaults come from the dataclass).
TRAIN_FLAGS = (
    "epochs",
    "max_steps",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "grad_clip",
    "eval_every",
    "patience",
    "checkpoint",
    "checkpoint_every",
    "log",
    "seed",
    "device",
)


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def _registry(kind: str) -> Any:
    if kind == "models":
        from deltalab.models.registry import MODELS

        return MODELS
    if kind == "data":
        from deltalab.data.base import DATASETS

        return DATASETS
    if kind == "optimizers":
        from deltalab.optim import OPTIMIZERS

        return OPTIMIZERS
    from deltalab.bench.core import BENCHMARKS

    return BENCHMARKS


def cmd_list(args: argparse.Namespace) -> int:
    from deltalab.lab.runner import select

    if args.kind:
        names = _registry(args.kind).names(args.pattern or "*")
        if args.json:
            _emit(names)
        else:
            print("\n".join(names))
        return 0
    specs = select([args.pattern] if args.pattern else None, args.chapter)
    if args.json:
        _emit([s.describe() for s in specs])
        return 0
    for s in specs:
        fails = [p for p in PROFILES if s.expected_for(p) == "fail"]
        where = "" if len(fails) == len(PROFILES) else f" in {', '.join(fails)}"
        exp = f"  [expected fail{where}]" if fails else ""
        print(f"{s.id:24s} {s.chapter}  {s.title}{exp}")
    print(f"{len(specs)} experiments", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from deltalab.lab.aggregate import verdict_label
    from deltalab.lab.runner import exit_code, run

    doc = run(
        args.ids or None,
        chapters=args.chapter,
        profile=args.profile,
        seed=args.seed,
        seeds=args.seeds,
        device=args.device,
        out=args.out,
        jobs=args.jobs,
        threads=args.threads,
        timeout=args.timeout,
        verbose=True,
        argv=["deltalab", *sys.argv[1:]],
    )
    if args.json:
        _emit(doc)
    else:
        for c in doc["claims"]:
            mark = "" if c["verdict"] == c["expected"] else "   <-- expected " + c["expected"]
            print(f"{verdict_label(c):15s} {c['id']:24s} {c['seconds']:7.1f}s{mark}")
        bad = sum(c["verdict"] != c["expected"] for c in doc["claims"])
        seeds = doc["seeds"]
        print(
            f"{len(doc['claims']) - bad} of {len(doc['claims'])} claims as expected at seeds "
            f"{seeds[0]}..{seeds[-1]} in {doc['seconds']:.0f} s; report: {doc['out']}/report.html, "
            f"book: {doc['out']}/book/index.html"
        )
    return exit_code(doc)


def cmd_report(args: argparse.Namespace) -> int:
    from deltalab.lab.report import compare, render

    if len(args.dirs) == 2:
        print(compare(*args.dirs))
        return 0
    if len(args.dirs) != 1:
        raise UsageError("report takes one run folder (re-render) or two (compare side by side)")
    out = render(args.dirs[0])
    print(out)
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from deltalab.lab.book import build

    print(build(args.run_dir, args.out, strict=args.strict))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from deltalab.train.api import train

    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH")
    res = train(
        args.model,
        args.data,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=None if not args.json else False,
        **{k: getattr(args, k) for k in TRAIN_FLAGS},
    )
    if args.json:
        _emit(res)
    else:
        for k, v in res.items():
            print(f"{k:12s} {v:.4f}" if isinstance(v, float) else f"{k:12s} {v}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from deltalab.bench import run_benchmarks
    from deltalab.files import atomic_write_text, check_output_file

    check_output_file(args.out, "--out", suffixes=(".json",))
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    results = run_benchmarks(
        args.names or None, progress=lambda m: print(m, file=sys.stderr, flush=True), seeds=args.seeds
    )
    rows = [r.to_json() for r in results]
    atomic_write_text(args.out, json.dumps(rows, indent=2, allow_nan=False) + "\n")
    missed = [r for r in results if r.meets_goal is False]
    skipped = [r for r in results if r.skipped is not None]
    if args.json:
        _emit(rows)
    else:
        for r in results:
            print(r.summary())
        met = sum(r.meets_goal is True for r in results)
        with_goal = sum(r.meets_goal is not None for r in results)
        skip = f", {len(skipped)} skipped" if skipped else ""
        print(f"{met} of {with_goal} benchmarks meet their goal{skip}; wrote {args.out}")
    for r in missed:  # stderr, also under --json: which goals, and which part of each
        print(f"goal missed: {r.name}: {'; '.join(r.missed())}", file=sys.stderr)
    return 1 if missed else 0  # as `run`: 0 only when everything measured is as it should be


def cmd_generate(args: argparse.Namespace) -> int:
    from deltalab.files import check_output_file
    from deltalab.models.text_to_image import generate, save_grid

    check_output_file(args.out, "--out", suffixes=(".png",))
    images = generate(
        args.prompt, n=args.n, guidance=args.guidance, seed=args.seed, device=args.device, progress=True
    )
    out = save_grid(images, args.out)
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deltalab",
        description="Deep learning from the delta rule to diffusion: "
        "run measured claims, train models, benchmark parts.",
        epilog="exit codes: 0 success; 1 a verdict differs from its expectation or a benchmark misses "
        "its goal; 2 a usage or input error (one line says what to do); 3 training diverged "
        "(non-finite loss); 130 interrupted; 70 an internal error (a bug: --debug shows the traceback)",
    )
    p.add_argument("--version", action="version", version=f"deltalab {_version()}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list the claims (or --models, --data, --optimizers, --benchmarks)")
    ls.add_argument("pattern", nargs="?", help="id or glob, e.g. 'mup-*'")
    what = ls.add_mutually_exclusive_group()
    for kind in ("models", "data", "optimizers", "benchmarks"):
        what.add_argument(
            f"--{kind}",
            dest="kind",
            action="store_const",
            const=kind,
            help=f"list the registered {'data sets' if kind == 'data' else kind} instead of the claims",
        )
    ls.add_argument("--chapter", action="append", type=_chapter, help="chapter letter (repeatable)")
    ls.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    ls.set_defaults(fn=cmd_list)

    r = sub.add_parser(
        "run", help="run experiments (default: the quick suite of every claim) and write a report"
    )
    r.add_argument("ids", nargs="*", help="ids or globs (default: all)")
    r.add_argument("--chapter", action="append", type=_chapter, help="chapter letter (repeatable: union)")
    r.add_argument(
        "--profile", choices=["quick", "full"], default="quick", help="quick (<= 60 s each) or full"
    )
    r.add_argument(
        "--seed", type=argtypes.seed, default=0, help="first seed of data, init and order (default 0)"
    )
    r.add_argument(
        "--seeds",
        type=argtypes.positive_int,
        default=3,
        help="run each claim at this many seeds from --seed; a claim passes when every seed passes (default 3)",
    )
    r.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    r.add_argument(
        "--out",
        help="run folder (default runs/<UTC stamp>); a new or empty folder, or a previous run's, "
        "which is then replaced whole (any other folder is refused)",
    )
    r.add_argument(
        "--jobs",
        type=argtypes.positive_int,
        default=os.cpu_count() or 1,
        help="processes that share the (claim, seed) runs (default: the number of cores, %(default)s here)",
    )
    r.add_argument(
        "--threads",
        type=argtypes.positive_int,
        default=1,
        help="torch intra-op threads per seed-run (default 1: same numbers on every machine)",
    )
    r.add_argument(
        "--timeout",
        type=argtypes.positive_float,
        default=300.0,
        help="limit for one seed of one claim, in seconds; past it that seed is an error (default 300)",
    )
    r.add_argument("--json", action="store_true", help="print result.json on stdout")
    r.set_defaults(fn=cmd_run)

    rp = sub.add_parser("report", help="re-render DIR/report.html, or compare two runs: report A B")
    rp.add_argument("dirs", nargs="+", help="run folder(s)")
    rp.set_defaults(fn=cmd_report)

    bk = sub.add_parser(
        "book",
        help="the lab book: a page per claim (claim, derivation, setup, measurements, code) and an index",
        description="Write the lab book: RUN_DIR/book/ from a finished run (`deltalab run` writes it too), "
        "or, without a run, every registered claim's page (no measurements) into --out DIR.",
    )
    bk.add_argument("run_dir", nargs="?", help="a run folder written by `deltalab run`")
    bk.add_argument(
        "--out",
        help="book folder (default RUN_DIR/book); a new or empty folder, or a previous book, "
        "which is then replaced whole (any other folder is refused)",
    )
    bk.add_argument(
        "--strict",
        action="store_true",
        help="stop (exit 2) at the first bad derivation file, naming its file and line "
        "(default: warn and show its raw source)",
    )
    bk.set_defaults(fn=cmd_book)

    t = sub.add_parser("train", help="train a registered model on a registered data set")
    t.add_argument("--model", default="mlp", help="model name; `deltalab list --models` (default: mlp)")
    t.add_argument("--data", default="digits", help="data set name; `deltalab list --data` (default: digits)")
    argtypes.add_config_flags(t, TrainConfig, TRAIN_FLAGS)
    t.add_argument(
        "--resume", action="store_true", help="continue exactly from --checkpoint (which must exist)"
    )
    t.add_argument(
        "--overwrite", action="store_true", help="replace an existing --checkpoint and start afresh"
    )
    t.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    t.set_defaults(fn=cmd_train)

    b = sub.add_parser("bench", help="speed as side-by-side ratios, measured in one run")
    b.add_argument("names", nargs="*", help="benchmark names or globs (default: all)")
    b.add_argument(
        "--out", default="bench.json", help="JSON file to write the results to (default: bench.json)"
    )
    b.add_argument("--json", action="store_true", help="print the results as a JSON array")
    b.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="run benchmarks with a stochastic outcome at seeds 0..N-1 and report the median and "
        "range; timing ratios run once (default 3)",
    )
    b.set_defaults(fn=cmd_bench)

    gen = sub.add_parser("generate", help="draw digits from a text prompt (CLIP prior + guided diffusion)")
    gen.add_argument("prompt", help='e.g. "a photo of the digit seven"')
    gen.add_argument(
        "--n",
        type=argtypes.whole(1, MAX_GENERATE),
        default=16,
        help=f"number of samples, 1..{MAX_GENERATE} (default: 16)",
    )
    gen.add_argument(
        "--guidance",
        type=argtypes.non_negative_float,
        default=3.0,
        help="classifier-free guidance scale w >= 0 (1: plain conditioning, 0: ignore the prompt; default: 3)",
    )
    gen.add_argument(
        "--seed", type=argtypes.seed, default=0, help="seed of the model and the samples (default: 0)"
    )
    gen.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    gen.add_argument(
        "--out", default="generated.png", help="PNG grid to write, atomically (default: generated.png)"
    )
    gen.set_defaults(fn=cmd_generate)
    return p


def _version() -> str:
    import deltalab

    return deltalab.__version__


def main(argv: Sequence[str] | None = None) -> int:
    from deltalab.registry import UnknownNameError
    from deltalab.train.checkpoint import CheckpointError
    from deltalab.train.trainer import NonFiniteLossError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except (UnknownNameError, UsageError, ValueError, CheckpointError, FileNotFoundError) as e:
        print(f"deltalab {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"deltalab {args.command}: training diverged: {_one_line(e)}", file=sys.stderr)
        return 3
    except BrokenPipeError:
        # `deltalab report A B | head`: the reader left; say nothing more (Python's documented recipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt as e:
        print(f"deltalab {args.command}: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: say so in one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        print(
            f"deltalab {args.command}: internal error {type(e).__name__}: {_one_line(e)} "
            "(a bug; rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 70


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 500 else text[:497] + "..."


if __name__ == "__main__":
    sys.exit(main())
