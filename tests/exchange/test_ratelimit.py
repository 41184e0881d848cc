"""The weighted token-bucket limiter, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.exchange import PoolSpec, Priority, RateLimiter


def limiter(ts: VirtualTimeSource) -> RateLimiter:
    return RateLimiter(ts, [PoolSpec("WEIGHT", 60, 60), PoolSpec("ORDERS", 2, 10)])


def at_second_59() -> VirtualTimeSource:
    """A clock one second before a minute (and a 10 s window) ends."""
    return VirtualTimeSource(start_ns=VirtualTimeSource().time_ns() + 59 * NS_PER_SECOND)


def test_windows_cap_each_minute_and_the_bucket_paces_across_their_edges() -> None:
    ts = VirtualTimeSource()
    rl = limiter(ts)
    admitted: list[float] = []

    async def main() -> None:
        for _ in range(121):
            await rl.acquire({"WEIGHT": 1}, Priority.QUERY)
            admitted.append(ts.monotonic_ns() / NS_PER_SECOND)

    run_virtual(main(), ts)
    # 60 per aligned minute: the 61st waits for the next minute, not for one second of refill.
    assert admitted[59] == 0 and admitted[60] == pytest.approx(60.0)
    assert admitted[119] == pytest.approx(60.0) and admitted[120] == pytest.approx(120.0)

    ts = at_second_59()
    rl = limiter(ts)
    late: list[float] = []

    async def edge() -> None:
        await rl.acquire({"WEIGHT": 60}, Priority.QUERY)  # the last second of a minute
        await rl.acquire({"WEIGHT": 10}, Priority.QUERY)
        late.append(ts.monotonic_ns() / NS_PER_SECOND)

    run_virtual(edge(), ts)
    # A fresh minute starts 1 s later, but the bucket refills only 1/s: no double burst.
    assert late == [pytest.approx(10.0)]


def test_linked_pools_are_paid_together_and_priorities_order_waiters() -> None:
    ts = at_second_59()
    rl = limiter(ts)
    served: list[str] = []

    async def request(name: str, costs: dict[str, float], priority: Priority) -> None:
        await rl.acquire(costs, priority)
        served.append(f"{name}@{ts.monotonic_ns() // NS_PER_SECOND}")

    async def main() -> None:
        await rl.acquire({"WEIGHT": 60, "ORDERS": 2}, Priority.QUERY)  # drain both pools
        await asyncio.gather(
            request("snapshot", {"WEIGHT": 10}, Priority.MARKET_DATA),
            request("create", {"WEIGHT": 1, "ORDERS": 1}, Priority.CREATE),
            request("query", {"WEIGHT": 4}, Priority.QUERY),
            request("cancel", {"WEIGHT": 1}, Priority.CANCEL),
        )

    run_virtual(main(), ts)
    # Weight refills 1/s, orders 0.2/s.  The cancel goes first; the create holds its weight
    # while it waits for an order slot; the query and then the snapshot queue behind them.
    assert served == ["cancel@1", "create@5", "query@6", "snapshot@16"]


def test_a_request_needing_only_free_pools_passes_one_blocked_elsewhere() -> None:
    ts = at_second_59()
    rl = limiter(ts)
    served: list[str] = []

    async def request(name: str, costs: dict[str, float], priority: Priority) -> None:
        await rl.acquire(costs, priority)
        served.append(f"{name}@{ts.monotonic_ns() // NS_PER_SECOND}")

    async def main() -> None:
        await rl.acquire({"ORDERS": 2}, Priority.CREATE)  # no order slot for 5 s
        await asyncio.gather(
            request("create", {"WEIGHT": 1, "ORDERS": 1}, Priority.CREATE),
            request("query", {"WEIGHT": 59}, Priority.QUERY),
            request("greedy", {"WEIGHT": 2}, Priority.QUERY),
        )

    run_virtual(main(), ts)
    # The query fits beside the create's reserved unit of weight; the greedy one would eat it.
    assert served == ["query@0", "greedy@2", "create@5"]


def test_server_feedback_pauses_and_lowers_pools() -> None:
    ts = VirtualTimeSource()
    rl = limiter(ts)
    times: list[int] = []

    async def main() -> None:
        rl.observe_used("WEIGHT", 59)
        assert rl.available("WEIGHT") == 1
        rl.pause(30, "WEIGHT")  # a 429 with Retry-After: 30
        await rl.acquire({"WEIGHT": 1}, Priority.CANCEL)
        times.append(ts.monotonic_ns() // NS_PER_SECOND)
        rl.pause(120)  # a 418: everything stops
        await rl.acquire({"ORDERS": 1}, Priority.CREATE)
        times.append(ts.monotonic_ns() // NS_PER_SECOND)

    run_virtual(main(), ts)
    assert times == [30, 150]


def test_bad_requests_are_refused_and_cancelled_waiters_leave() -> None:
    ts = VirtualTimeSource()
    rl = limiter(ts)
    with pytest.raises(KeyError, match="unknown rate-limit pool"):
        rl.try_acquire({"NOPE": 1}, Priority.QUERY)
    with pytest.raises(ValueError, match="never be paid"):
        rl.try_acquire({"ORDERS": 3}, Priority.CREATE)

    async def main() -> None:
        await rl.acquire({"WEIGHT": 30}, Priority.QUERY)
        blocked = asyncio.ensure_future(rl.acquire({"WEIGHT": 40}, Priority.CANCEL))
        await asyncio.sleep(1)
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        # The cancelled cancel no longer reserves the pool for itself.
        assert rl.try_acquire({"WEIGHT": 1}, Priority.MARKET_DATA)

    run_virtual(main(), ts)
