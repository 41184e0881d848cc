"""A weighted token-bucket rate limiter with linked pools and priorities.

One limiter per exchange account.  Each pool (``REQUEST_WEIGHT`` 6000/min, ``ORDERS`` 50/10 s,
...) is a bucket that refills continuously at ``limit / interval``; a request names its cost in
every pool it draws from (a create costs request weight *and* an order count), and is admitted
only when all its pools can pay, atomically.  Waiting requests are served by priority (cancel >
create > query > market data) and, within one, first come first served.  A waiting request
reserves what it needs: tokens it could already pay are set aside for it and the pools it is
short of are closed to everything below it.  So a cancel never waits behind a 250-weight
snapshot, while a query still passes a create that only waits for an order slot, as long as it
leaves the create its weight.

The server has the last word: :meth:`RateLimiter.observe_used` lowers a pool to what the venue
reports used (``X-MBX-USED-WEIGHT-1M``), :meth:`RateLimiter.pause` stops a pool (429) or all of
them (418) until ``Retry-After`` has passed.  Time comes from the injected :class:`TimeSource`
and waits are ``time_source.sleep``, so the limiter runs unchanged in virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hufimm.core.timesource import NS_PER_SECOND, TimeSource


class Priority(enum.IntEnum):
    """Lower value is served first."""

    CANCEL = 0
    CREATE = 1
    QUERY = 2
    MARKET_DATA = 3


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """``limit`` units per ``interval_s`` seconds; ``margin`` is the share kept unused."""

    name: str
    limit: float
    interval_s: float
    margin: float = 0.0

    @property
    def capacity(self) -> float:
        return self.limit * (1.0 - self.margin)

    @property
    def rate_per_s(self) -> float:
        return self.capacity / self.interval_s


class _Bucket:
    """A token bucket that also never spends more than its capacity in one aligned window.

    The bucket alone would allow a burst of ``capacity`` at the end of one venue window and
    another at the start of the next; venues such as Binance count fixed windows aligned to the
    clock (``X-MBX-USED-WEIGHT-1M`` is this minute's count), so both limits apply.
    """

    __slots__ = ("paused_until_ns", "spec", "tokens", "updated_ns", "window", "window_used")

    def __init__(self, spec: PoolSpec, mono_ns: int, wall_ns: int) -> None:
        if spec.limit <= 0 or spec.interval_s <= 0 or not 0 <= spec.margin < 1:
            raise ValueError(f"invalid rate-limit pool {spec}")
        self.spec = spec
        self.tokens = spec.capacity
        self.updated_ns = mono_ns
        self.paused_until_ns = 0
        self.window = self._window_of(wall_ns)
        self.window_used = 0.0

    def _window_of(self, wall_ns: int) -> int:
        return wall_ns // round(self.spec.interval_s * NS_PER_SECOND)

    def sync(self, mono_ns: int, wall_ns: int) -> None:
        elapsed = (mono_ns - self.updated_ns) / NS_PER_SECOND
        if elapsed > 0:
            self.tokens = min(self.spec.capacity, self.tokens + elapsed * self.spec.rate_per_s)
            self.updated_ns = mono_ns
        window = self._window_of(wall_ns)
        if window != self.window:
            self.window = window
            self.window_used = 0.0

    def room(self) -> float:
        """What can be paid now (before anyone's reservation)."""
        return min(self.tokens, self.spec.capacity - self.window_used)

    def pay(self, cost: float) -> None:
        self.tokens -= cost
        self.window_used += cost

    def wait_ns(self, need: float, mono_ns: int, wall_ns: int) -> int:
        """How long until ``need`` (a cost plus what higher waiters reserved) fits; >= 1 ns."""
        wait = self.paused_until_ns - mono_ns
        short = need - self.tokens
        if short > 1e-9:
            wait = max(wait, math.ceil(short / self.spec.rate_per_s * NS_PER_SECOND))
        if self.window_used + need > self.spec.capacity + 1e-9:
            window_ns = round(self.spec.interval_s * NS_PER_SECOND)
            wait = max(wait, (self.window + 1) * window_ns - wall_ns)
        return max(wait, 1)

    def blocked(self, mono_ns: int) -> bool:
        return self.paused_until_ns > mono_ns


@dataclass(eq=False, slots=True)
class _Waiter:
    priority: Priority
    order: int
    costs: Mapping[str, float]
    future: asyncio.Future[None]


class RateLimiter:
    """Admits requests against linked token buckets; see the module docstring."""

    def __init__(self, time_source: TimeSource, pools: Iterable[PoolSpec]) -> None:
        self._time = time_source
        mono, wall = time_source.monotonic_ns(), time_source.time_ns()
        self._buckets = {spec.name: _Bucket(spec, mono, wall) for spec in pools}
        if not self._buckets:
            raise ValueError("a rate limiter needs at least one pool")
        self._waiters: list[_Waiter] = []
        self._counter = itertools.count()
        self._wake_task: asyncio.Task[None] | None = None
        self._wake_at_ns: int | None = None
        self.waited_ns_total = 0
        self.admitted = 0

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(self._buckets)

    def spec(self, pool: str) -> PoolSpec:
        return self._bucket(pool).spec

    def _bucket(self, pool: str) -> _Bucket:
        try:
            return self._buckets[pool]
        except KeyError:
            raise KeyError(
                f"unknown rate-limit pool {pool!r}; known: {list(self._buckets)}"
            ) from None

    def _sync(self) -> int:
        mono, wall = self._time.monotonic_ns(), self._time.time_ns()
        for bucket in self._buckets.values():
            bucket.sync(mono, wall)
        return mono

    def available(self, pool: str) -> float:
        bucket = self._bucket(pool)
        self._sync()
        return bucket.room()

    def paused_for(self, pool: str) -> float:
        """Seconds until ``pool`` is no longer paused (0 when it is not)."""
        remaining = self._bucket(pool).paused_until_ns - self._time.monotonic_ns()
        return max(0, remaining) / NS_PER_SECOND

    def _check(self, costs: Mapping[str, float]) -> None:
        for pool, cost in costs.items():
            bucket = self._bucket(pool)
            if cost < 0 or cost > bucket.spec.capacity:
                raise ValueError(
                    f"cost {cost} in pool {pool} can never be paid "
                    f"(capacity {bucket.spec.capacity})"
                )

    async def acquire(self, costs: Mapping[str, float], priority: Priority) -> None:
        """Wait until every pool in ``costs`` can pay, then take the tokens."""
        self._check(costs)
        start = self._time.monotonic_ns()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(priority, next(self._counter), dict(costs), future)
        self._waiters.append(waiter)
        self._waiters.sort(key=lambda w: (w.priority, w.order))
        self._dispatch()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                self._dispatch()
            elif waiter.future.done() and not waiter.future.cancelled():
                # Admitted in the same instant it was cancelled: the tokens are spent either way.
                pass
            raise
        self.waited_ns_total += self._time.monotonic_ns() - start
        self.admitted += 1

    def try_acquire(self, costs: Mapping[str, float], priority: Priority) -> bool:
        """Take the tokens now if nothing of equal or higher priority is waiting for them."""
        self._check(costs)
        mono = self._sync()
        for waiter in self._waiters:
            if waiter.priority <= priority and set(waiter.costs) & set(costs):
                return False
        if not all(
            not self._buckets[p].blocked(mono) and self._buckets[p].room() >= c - 1e-9
            for p, c in costs.items()
        ):
            return False
        for pool, cost in costs.items():
            self._buckets[pool].pay(cost)
        self.admitted += 1
        return True

    def _dispatch(self) -> None:
        """Admit whoever can go now, in priority order, and arm a wake-up for the rest.

        A waiter that cannot go reserves what it needs: the room it could already pay is set
        aside (``reserved``) and the pools it is short of are closed to everyone below it.
        """
        mono = self._sync()
        wall = self._time.time_ns()
        reserved = dict.fromkeys(self._buckets, 0.0)
        blocked: set[str] = set()
        earliest: int | None = None
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            costs = waiter.costs
            buckets = self._buckets
            if all(
                p not in blocked
                and not buckets[p].blocked(mono)
                and buckets[p].room() - reserved[p] >= c - 1e-9
                for p, c in costs.items()
            ):
                for pool, cost in costs.items():
                    buckets[pool].pay(cost)
                self._waiters.remove(waiter)
                waiter.future.set_result(None)
                continue
            for pool, cost in costs.items():
                if pool in blocked:
                    continue
                bucket = buckets[pool]
                if bucket.blocked(mono) or bucket.room() - reserved[pool] < cost - 1e-9:
                    wait = bucket.wait_ns(cost + reserved[pool], mono, wall)
                    earliest = wait if earliest is None else min(earliest, wait)
                    blocked.add(pool)
                else:
                    reserved[pool] += cost
        if earliest is not None:
            self._arm(mono + earliest)

    def _arm(self, when_ns: int) -> None:
        if self._wake_at_ns is not None and self._wake_at_ns <= when_ns and self._wake_task:
            return
        if self._wake_task is not None:
            self._wake_task.cancel()
        self._wake_at_ns = when_ns
        self._wake_task = asyncio.get_running_loop().create_task(self._wake(when_ns))

    async def _wake(self, when_ns: int) -> None:
        delay = (when_ns - self._time.monotonic_ns()) / NS_PER_SECOND
        if delay > 0:
            await self._time.sleep(delay)
        self._wake_task = None
        self._wake_at_ns = None
        self._dispatch()

    # ------------------------------------------------------------------ what the server says
    def observe_used(self, pool: str, used: float) -> None:
        """The venue counts ``used`` units in this pool's current window: believe it."""
        bucket = self._bucket(pool)
        self._sync()
        bucket.window_used = max(bucket.window_used, used)
        bucket.tokens = min(bucket.tokens, bucket.spec.capacity - used)

    def pause(self, retry_after_s: float, pool: str | None = None) -> None:
        """Stop ``pool`` (a 429) or every pool (``None``: a 418 ban) for ``retry_after_s``."""
        until = self._time.monotonic_ns() + math.ceil(retry_after_s * NS_PER_SECOND)
        buckets = self._buckets.values() if pool is None else [self._bucket(pool)]
        for bucket in buckets:
            bucket.paused_until_ns = max(bucket.paused_until_ns, until)
            bucket.tokens = min(bucket.tokens, 0.0)
        if self._waiters:
            with contextlib.suppress(RuntimeError):  # no running loop: next acquire dispatches
                self._dispatch()

    async def close(self) -> None:
        if self._wake_task is not None:
            self._wake_task.cancel()
            self._wake_task = None
