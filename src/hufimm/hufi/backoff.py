"""Backoff for HuFi's scheduled jobs: after a failed run, skip runs for a growing, jittered while.

A job that fails because a service is down or answers garbage must not crash the engine or hit
the service on every tick; it waits ``base·2^(n-1)`` (capped, jittered) before trying again,
and its health says why.
"""

from __future__ import annotations

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND


class JobBackoff:
    def __init__(self, rng: SeededRng, *, base_s: float = 60.0, max_s: float = 3600.0) -> None:
        self._rng = rng
        self._base_s = base_s
        self._max_s = max_s
        self.failures = 0
        self.next_run_ns = 0
        self.last_error = ""

    def due(self, now_ns: int) -> bool:
        return now_ns >= self.next_run_ns

    def failed(self, now_ns: int, error: str) -> float:
        """Record a failure; returns the wait in seconds before the next run."""
        self.failures += 1
        self.last_error = error
        nominal = min(self._max_s, self._base_s * 2.0 ** (self.failures - 1))
        wait = min(self._max_s, nominal * (0.5 + self._rng.random()))
        self.next_run_ns = now_ns + round(wait * NS_PER_SECOND)
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self.next_run_ns = 0
        self.last_error = ""
