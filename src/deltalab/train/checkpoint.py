"""Checkpoints: one file, written atomically, read with ``torch.load(..., weights_only=True)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deltalab.files import atomic_write, stale_temp_files


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, with what to do about it."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` into a temp file beside ``path``, fsync, then rename over it.

    A crash at any point leaves the previous checkpoint (if any) intact and loadable.
    """
    atomic_write(path, lambda f: torch.save(state, f), fsync=True)
    for tmp in stale_temp_files(path):  # left by a save that was killed before its rename
        tmp.unlink(missing_ok=True)


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    required: tuple[str, ...] = ("model", "optimizer", "step"),
) -> dict[str, Any]:
    """Load a checkpoint safely; a clear ``CheckpointError`` when it is missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train without --resume to create one")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        # One line, and never torch's hint to retry with weights_only=False: that would run
        # whatever pickled code the file holds, which is exactly what weights_only protects from.
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a deltalab checkpoint ({type(e).__name__}); "
            "delete it or pass another --checkpoint"
        ) from e
    if not isinstance(state, dict) or any(k not in state for k in required):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"checkpoint {path} lacks {list(required)} (found {keys}); "
            "it was not written by deltalab's Trainer"
        )
    return state
