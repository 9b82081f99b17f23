"""Where a run folder may go: ``--out`` never replaces anything but a previous run.

Allowed: a path that does not exist yet (under folders only), an empty folder, or a folder a
previous ``deltalab run`` wrote (it holds the ``.deltalab-run`` marker or a result.json of ours).
Refused before any work starts, with one line saying what to do: the current folder or one of its
parents, a file, a path under a file, a non-empty folder of anything else, an unwritable place.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

RUN_MARKER = ".deltalab-run"
"""an empty file in every run folder: the sign that ``--out`` may replace it"""


class OutError(ValueError):
    """``--out`` names a place the runner must not (or cannot) write."""


def is_run_folder(folder: Path) -> bool:
    """True for a folder a previous ``deltalab run`` wrote (its marker, or a result.json of ours)."""
    if (folder / RUN_MARKER).is_file():
        return True
    try:
        doc = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "schema" in doc and isinstance(doc.get("claims"), list)


def check_out(
    out: str | Path,
    *,
    owned: Callable[[Path], bool] = is_run_folder,
    writer: str = "deltalab run",
    mark: str = "no result.json",
    example: str = "runs/mine",
) -> Path:
    """Where the run folder may go, checked before any work; ``OutError`` (one line) if nowhere.

    Allowed: a path that does not exist yet (under folders only), an empty folder, or a folder
    ``owned`` recognizes (by default a previous run's). Refused: the current folder or one of its
    parents, a file, a non-empty folder of anything else, a place that cannot be written. ``writer``,
    ``mark`` and ``example`` word the messages (the lab book uses its own).
    """
    out = Path(out)
    target = out.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise OutError(
            f"--out {out} is the current folder or one of its parents; give a folder of its own, e.g. {example}"
        )
    existing = target
    while not existing.exists():
        existing = existing.parent
    if existing != target and not existing.is_dir():
        raise OutError(f"--out {out}: {existing} is a file, so no folder can be made under it")
    if target.exists():
        if not target.is_dir():
            raise OutError(f"--out {out} exists and is a file; give a folder")
        if any(target.iterdir()) and not owned(target):
            raise OutError(
                f"--out {out} is a folder that `{writer}` did not write ({mark}); "
                "refusing to replace it: give a new folder, or empty this one yourself"
            )
    writable = target.parent if target.parent.exists() else existing
    if not os.access(writable, os.W_OK | os.X_OK):
        raise OutError(f"--out {out}: {writable} is not writable")
    return out


def swap_into_place(staging: Path, out_path: Path) -> None:
    """Move a finished folder into place; what was there is swapped out first, then removed (so the
    old one stays whole until the new one is complete). Re-check ``out_path`` before calling."""
    if out_path.exists():
        old = out_path.parent / f".{out_path.name}.old-{os.getpid()}"
        out_path.rename(old)
        staging.rename(out_path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out_path)
