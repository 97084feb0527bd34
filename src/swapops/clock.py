"""Simulated time: the one clock that drives flush timers and latency models."""

from __future__ import annotations


class SimClock:
    """Nanoseconds of simulated time, advanced only by the simulation."""

    __slots__ = ("now_ns",)

    def __init__(self, now_ns: int = 0) -> None:
        self.now_ns = now_ns

    def advance(self, delta_ns: int) -> int:
        if delta_ns < 0:
            raise ValueError("simulated time cannot go backwards")
        self.now_ns += delta_ns
        return self.now_ns

    def __repr__(self) -> str:
        return f"SimClock({self.now_ns} ns)"
