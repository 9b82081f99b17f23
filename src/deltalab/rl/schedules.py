"""Exploration and temperature schedules shared by the agents (ε-greedy, DQN, AlphaZero).

A schedule is a plain function of the step ``t`` so that agents can log and plot it.
"""

from __future__ import annotations

import math


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """``start`` → ``end`` linearly over ``duration`` steps, then ``end`` (cleanrl's DQN ε)."""
    if duration <= 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    frac = min(max(t, 0) / duration, 1.0)
    return start + frac * (end - start)


def exponential_schedule(start: float, end: float, half_life: float, t: int) -> float:
    """``end + (start - end) · 2^(-t / half_life)``."""
    if half_life <= 0:
        raise ValueError(f"half_life must be > 0, got {half_life}")
    return end + (start - end) * math.pow(2.0, -max(t, 0) / half_life)


def inverse_schedule(start: float, t: int, scale: float = 1.0) -> float:
    """``start / (1 + t / scale)``: the GLIE decay ε_t ∝ 1/t that keeps exploring forever."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return start / (1.0 + max(t, 0) / scale)
