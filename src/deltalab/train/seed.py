"""Seeding, RNG state capture (as tensors and plain lists, so ``weights_only=True`` loads it) and devices."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh torch Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """Seeds of ``replicates`` independent runs that stand for one seed: ``seed + 100_003 · i``.

    Replicate 0 is ``seed`` itself, so one replicate is the plain run; the stride keeps the
    replicates of nearby seeds apart.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    return [seed + 100_003 * i for i in range(replicates)]


def rng_state() -> dict[str, Any]:
    """The global RNG states as tensors and lists (no pickled objects)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": {
            "version": py_state[0],
            "state": list(py_state[1]),
            "gauss": py_state[2] if py_state[2] is not None else None,
        },
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``; a clear error when CUDA is asked for but absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but torch.cuda.is_available() is False; use --device cpu"
        )
    return dev
