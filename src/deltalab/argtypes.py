"""argparse value types for the ``deltalab`` command line: each checks one value and, when it is
wrong, says in one line what was expected (argparse turns that into exit code 2)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence


def whole(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A whole number in lo..hi (no upper limit when ``hi`` is None)."""

    def parse(value: str) -> int:
        try:
            v = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if v < lo or (hi is not None and v > hi):
            where = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"expected a number {where}, got {v}")
        return v

    return parse


positive_int = whole(1)
seed = whole(0, 2**32 - 1)
"""a seed torch and NumPy both accept"""


def finite_float(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return v


def positive_float(value: str) -> float:
    v = finite_float(value)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value!r}")
    return v


def non_negative_float(value: str) -> float:
    v = finite_float(value)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
    return v


def add_config_flags(parser: argparse.ArgumentParser, cls: type, names: Sequence[str]) -> None:
    """One flag per field of the config dataclass ``cls``: its type, its default and its docstring
    line as the help (counts and step limits must be >= 1, seeds in the seed range)."""
    from deltalab.train.config import config_fields

    spec = config_fields(cls)
    for name in names:
        ann, default, doc = spec[name]
        base = ann.replace(" | None", "")
        kind = {"int": whole(0), "float": finite_float, "str": str}[base]
        if name in ("epochs", "batch_size", "max_steps", "patience"):
            kind = positive_int
        if name == "seed":
            kind = seed
        shown = "none" if default is None else default
        parser.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=default, help=f"{doc} (default: {shown})"
        )
