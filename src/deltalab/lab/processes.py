"""What a run does about its processes when it is stopped: SIGTERM as Ctrl-C, pool workers that
follow their run, and the staging folders of runs that were killed with ``kill -9``."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from deltalab.lab.outdir import RUN_MARKER


def raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def follow_parent(parent: int) -> None:
    """A pool worker's initializer: exit when the run that started it is gone (a ``kill -9`` of
    ``deltalab run`` would otherwise leave its workers computing, orphaned)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="follow-parent").start()


def remove_stale_staging(out_path: Path) -> None:
    """Remove the staging folders of runs into ``out_path`` whose process is gone (killed with
    ``kill -9``, so nothing cleaned up); only folders carrying the run marker are touched."""
    for old in out_path.parent.glob(f".{out_path.name}.staging-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not (old / RUN_MARKER).exists() or _alive(int(pid)):
            continue
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
