"""Peak tensor memory of a computation on any device, CPU included, by accounting allocations.

torch reports peak memory only for accelerators (``torch.cuda.max_memory_allocated``). On CPU
this module counts it: a ``TorchDispatchMode`` sees every tensor every operator returns; a new
storage adds its ``nbytes`` to the live total, and a ``weakref.finalize`` on the storage's last
tracked tensor subtracts it when torch frees it (tensor Python objects are preserved while C++
still holds them, e.g. as saved activations, so the release is seen when the memory really goes).
The peak of the live total is the answer. Tensors that exist before the call (inputs, weights) are
not counted; scratch buffers an operator allocates and frees inside one kernel are invisible to
this accounting (they are visible to the OS, not to the dispatcher).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PeakMemory(TorchDispatchMode):
    """Context manager: ``with PeakMemory() as pm: f()`` then ``pm.peak_bytes``."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, int] = {}  # storage data_ptr → tracked tensors alive on it
        self._sizes: dict[int, int] = {}

    def _release(self, key: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            self.live -= self._sizes.pop(key)
            del self._refs[key]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key == 0:
                continue
            if key not in self._refs:
                self._refs[key] = 0
                self._sizes[key] = storage.nbytes()
                self.live += storage.nbytes()
                self.peak = max(self.peak, self.live)
            self._refs[key] += 1
            weakref.finalize(t, self._release, key)
        return out

    @property
    def peak_bytes(self) -> int:
        return self.peak


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes of tensors allocated while ``fn()`` runs (its result is freed before return)."""
    with PeakMemory() as pm:
        out = fn()
        del out
    return pm.peak_bytes
