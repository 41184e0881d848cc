"""Injected time.

Every reading of "now" in hufimm goes through a :class:`TimeSource`.  The real one reads the
operating system; the virtual one advances only when told to (:meth:`VirtualTimeSource.advance`)
or when an asyncio loop built by :func:`hufimm.core.vloop.new_virtual_loop` has nothing ready to
run and jumps straight to its next timer.  Time is an integer count of nanoseconds since the
Unix epoch so that arithmetic on it is exact.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_datetime(ns: int) -> datetime:
    """Convert epoch nanoseconds to an aware UTC datetime (truncated to the microsecond)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def datetime_to_ns(value: datetime) -> int:
    """Convert an aware datetime to epoch nanoseconds, exactly to the microsecond."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: every time in hufimm is timezone-aware UTC")
    delta = value - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * 1000


@runtime_checkable
class TimeSource(Protocol):
    """Where time comes from."""

    def time_ns(self) -> int:
        """Wall-clock time, nanoseconds since the Unix epoch."""

    def monotonic_ns(self) -> int:
        """A clock that never goes backwards, for measuring durations."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this source's time."""


class RealTimeSource:
    """The operating system's clocks."""

    def time_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualTimeSource:
    """Time that moves only when it is moved.

    Outside an event loop, call :meth:`advance`.  Inside a loop made by
    :func:`hufimm.core.vloop.new_virtual_loop` for this source, ``await sleep(s)`` suspends the
    task and the loop advances the source when nothing else is runnable, so a simulated day
    passes in as long as the work in it takes.
    """

    def __init__(self, start_ns: int = 1_767_225_600 * NS_PER_SECOND) -> None:
        # Default start: 2026-01-01T00:00:00Z, a stable origin for seeded runs.
        self._now = start_ns
        self._origin = start_ns

    def time_ns(self) -> int:
        return self._now

    def monotonic_ns(self) -> int:
        return self._now - self._origin

    def advance_ns(self, ns: int) -> None:
        if ns < 0:
            raise ValueError("virtual time never goes backwards")
        self._now += ns

    def advance(self, seconds: float | int) -> None:
        self.advance_ns(round(seconds * NS_PER_SECOND))

    def advance_to_ns(self, when_ns: int) -> None:
        if when_ns > self._now:
            self._now = when_ns

    async def sleep(self, seconds: float) -> None:
        # Under a virtual loop asyncio.sleep's timer is virtual; the loop moves this source.
        await asyncio.sleep(seconds)


class Stopwatch:
    """Measures real elapsed CPU-side time for reports and benchmarks (never for decisions).

    Tick cost percentiles must show how long the work really took even in virtual time, while
    nothing that decides behaviour may depend on it, or a seed would not replay.
    """

    __slots__ = ("_start",)

    def __init__(self) -> None:
        self._start = time.perf_counter_ns()

    def elapsed_ns(self) -> int:
        return time.perf_counter_ns() - self._start

    def elapsed_ms(self) -> float:
        return self.elapsed_ns() / NS_PER_MS
