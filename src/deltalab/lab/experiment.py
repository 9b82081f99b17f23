"""The ``@experiment`` registry and the context an experiment runs in.

An experiment is a function ``(ctx: Context) -> Result`` registered under its CLAIMS.md id:

    @experiment(chapter="L", title="Cross-entropy beats squared error with a sigmoid output",
                claim="with a sigmoid output, cross-entropy learns much faster than MSE ...")
    def ce_vs_mse(ctx: Context) -> Result:
        steps = ctx.pick(quick=2000, full=10000)
        ...
        return Result(metrics, [Bar("speedup_ce_over_mse", ">=", 3.0)], bar="CE >= 3x fewer steps")

Experiments live in ``deltalab.experiments`` (one module per chapter or claim) and are found by
importing that package; nothing else needs editing to add one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from deltalab.lab.result import Result
from deltalab.registry import Registry

CHAPTERS = {
    "L": "Linear models and gradient descent",
    "T": "Generalization and the tricks of the trade",
    "O": "Optimizers and parametrization",
    "C": "Convolutional networks",
    "R": "Recurrent networks and memory",
    "A": "Attention, transformers and sequence layers",
    "S": "Representation learning",
    "G": "Generative models",
    "P": "Reinforcement learning and games",
    "Z": "Pruning",
}
PROFILES = ("quick", "full")
T = TypeVar("T")


@dataclass(frozen=True)
class ExperimentSpec:
    """A registered experiment: its CLAIMS.md row and the function that measures it."""

    id: str
    chapter: str
    title: str
    claim: str
    fn: Callable[[Context], Result]
    expected: str = "pass"
    reason: str = ""
    fails_in: tuple[str, ...] = PROFILES
    """the profiles an ``expected="fail"`` applies to (the others are expected to pass)"""
    group: str = ""
    """claims of one group run one after the other in one process at each seed, so that what they
    share through ``ctx.cached`` is built once per seed (e.g. ddpm's U-Net, reused by latent-diffusion)"""

    def expected_for(self, profile: str) -> str:
        """The verdict this claim is expected to reach in ``profile``."""
        return self.expected if profile in self.fails_in else "pass"

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "chapter": self.chapter, "title": self.title, "claim": self.claim}


EXPERIMENTS: Registry[ExperimentSpec] = Registry("experiment", package="deltalab.experiments")


def experiment(
    id: str | None = None,
    *,
    chapter: str,
    title: str,
    claim: str,
    expected: str = "pass",
    reason: str = "",
    fails_in: tuple[str, ...] = PROFILES,
    group: str = "",
) -> Callable[[Callable[[Context], Result]], Callable[[Context], Result]]:
    """Register an experiment under ``id`` (default: the function name with ``_`` → ``-``).

    ``expected="fail"`` (with a one-line ``reason``) marks a claim that honestly does not clear its
    bar here; the run is then green when the measured verdict is ``fail`` and red when it passes.
    ``fails_in=("quick",)`` limits that to the quick profile, for a claim whose full profile was
    measured to clear the bar that the quick budget cannot. ``group`` names claims that share
    trained parts through ``ctx.cached``: the runner keeps a group's claims of one seed in one process.
    """
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {''.join(CHAPTERS)}, got {chapter!r}")
    if expected not in ("pass", "fail"):
        raise ValueError(f"expected must be 'pass' or 'fail', got {expected!r}")
    if expected == "fail" and not reason:
        raise ValueError("an expected failure needs a one-line reason")
    if not fails_in or any(p not in PROFILES for p in fails_in):
        raise ValueError(f"fails_in must be a non-empty subset of {PROFILES}, got {fails_in!r}")

    def wrap(fn: Callable[[Context], Result]) -> Callable[[Context], Result]:
        name = id or fn.__name__.replace("_", "-")
        EXPERIMENTS.add(
            name, ExperimentSpec(name, chapter, title, claim, fn, expected, reason, tuple(fails_in), group)
        )
        return fn

    return wrap


# Trained parts shared by several experiments of one run (e.g. the digits judge); per process.
_RUN_CACHE: dict[tuple[Any, ...], Any] = {}


@dataclass
class Context:
    """What an experiment may use: its profile, seed, device, output folder and reporters."""

    id: str
    profile: str = "quick"
    seed: int = 0
    device: str = "cpu"
    out_dir: Path = field(default_factory=lambda: Path("."))
    verbose: bool = True
    figures: list[str] = field(default_factory=list)
    series_data: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        self.out_dir = Path(self.out_dir)

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def pick(self, quick: T, full: T) -> T:
        """The value for the running profile."""
        return quick if self.quick else full

    def log(self, msg: str) -> None:
        """A progress line on stderr (never stdout, which ``--json`` reserves)."""
        if self.verbose:
            print(f"  [{self.id} {time.perf_counter() - self._t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def savefig(self, fig: Any, suffix: str = "") -> str:
        """Save a matplotlib figure as ``<id>[-suffix].png`` in the run folder and close it."""
        import matplotlib.pyplot as plt

        name = f"{self.id}-{suffix}.png" if suffix else f"{self.id}.png"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.out_dir / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(name)
        return name

    def series(self, name: str, data: Any) -> None:
        """Keep a curve (lists of numbers) for ``series.json`` beside the report."""
        json.dumps(data, allow_nan=False)  # fail here, not when the report is written
        self.series_data[name] = data

    def cached(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        """``build()`` once per process, key, profile, seed and device (pretrained nets) within a run.

        ``build`` runs with the global RNG states (torch, NumPy, Python) saved and restored, so a
        claim draws the same numbers after this call whether the part was built now or reused.
        """
        full_key = (*key, self.profile, self.seed, self.device)
        if full_key not in _RUN_CACHE:
            from deltalab.train.seed import rng_state, set_rng_state

            saved = rng_state()
            try:
                _RUN_CACHE[full_key] = build()
            finally:
                set_rng_state(saved)
        return _RUN_CACHE[full_key]

    def result(self, metrics: dict[str, Any], bars: list[Any], bar: str, **kw: Any) -> Result:
        """A Result that carries the figures this context saved."""
        return Result(metrics, bars, bar, figures=list(self.figures), **kw)
