"""Exponential backoff with jitter drawn from a seeded stream (reconnects, retries)."""

from __future__ import annotations

from hufimm.core.rng import SeededRng


class Backoff:
    """``initial * 2**n`` capped at ``maximum``, each delay scaled by a random factor in
    [0.5, 1] so that many clients cut off together do not reconnect in lockstep."""

    def __init__(self, initial_s: float, maximum_s: float, rng: SeededRng) -> None:
        if initial_s <= 0 or maximum_s < initial_s:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self._initial = initial_s
        self._maximum = maximum_s
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * 2 ** min(self.attempts, 30))
        self.attempts += 1
        return float(ceiling) * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempts = 0
