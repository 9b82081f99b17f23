"""Ctrl-C that waits for a step boundary, so that a training loop can stop with a consistent checkpoint."""

from __future__ import annotations

import signal
import threading
from typing import Any


class DeferredInterrupt:
    """Ctrl-C during ``fit`` is taken at the next step boundary (where a checkpoint is consistent).

    The first SIGINT sets ``requested``; a second one interrupts at once. Outside the main thread
    (where signal handlers cannot be set) nothing changes.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
