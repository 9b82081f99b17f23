"""Writing files so that nothing is ever half-written: one temp file beside the target, then a rename.

Every file deltalab writes (result.json, report.html, checkpoints, caches, image grids, benchmark
results) goes through ``atomic_write``: a crash or a kill at any point leaves either the old file or
the new one, never a mix; the temp file is removed when the write fails. The file gets the mode an
ordinary ``open(path, "w")`` would give (0666 less the umask), not ``mkstemp``'s private 0600.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, fsync: bool = False) -> Path:
    """Call ``write(f)`` on a binary temp file in ``path``'s folder, then rename it over ``path``.

    ``fsync=True`` flushes the data to disk before the rename (checkpoints: the old one stays
    loadable until the new one is complete on disk).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``atomic_write`` of UTF-8 text."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def stale_temp_files(path: str | Path) -> list[Path]:
    """Temp files that a killed ``atomic_write`` of ``path`` left beside it."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []


def check_output_file(path: str | Path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Check, before any work, that a file can be written at ``path``; ``ValueError`` (one line) if not.

    ``what`` names the option in the message (e.g. ``"--checkpoint"``); ``suffixes`` restricts the
    file's extension (e.g. ``(".png",)``).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{what} {path} is a folder; give a file path, e.g. {path / ('out' + (suffixes or ('',))[0])}"
        )
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {path}: expected a file ending in {' or '.join(suffixes)}")
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what} {path}: {existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{what} {path} is not writable")
    return path
