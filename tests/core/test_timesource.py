"""Virtual time: moves only when told or when the virtual loop idles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from hufimm.core.timesource import (
    NS_PER_SECOND,
    VirtualTimeSource,
    datetime_to_ns,
    ns_to_datetime,
)
from hufimm.core.vloop import run_virtual


def test_virtual_time_stands_still_until_advanced() -> None:
    ts = VirtualTimeSource(start_ns=10 * NS_PER_SECOND)
    assert ts.time_ns() == ts.time_ns() == 10 * NS_PER_SECOND
    ts.advance(1.5)
    assert ts.time_ns() == 11_500_000_000
    assert ts.monotonic_ns() == 1_500_000_000
    with pytest.raises(ValueError, match="backwards"):
        ts.advance(-1)


def test_virtual_loop_jumps_to_timers_in_order() -> None:
    ts = VirtualTimeSource()
    start = ts.time_ns()
    woke: list[tuple[str, int]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await ts.sleep(seconds)
        woke.append((name, ts.time_ns() - start))

    async def main() -> None:
        await asyncio.gather(sleeper("day", 86_400), sleeper("minute", 60), sleeper("hour", 3600))

    run_virtual(main(), ts)
    assert woke == [
        ("minute", 60 * NS_PER_SECOND),
        ("hour", 3600 * NS_PER_SECOND),
        ("day", 86_400 * NS_PER_SECOND),
    ]


def test_virtual_loop_runs_executor_work_inline() -> None:
    ts = VirtualTimeSource()
    order: list[str] = []

    def blocking() -> str:
        order.append("work")
        return "done"

    async def main() -> str:
        result = await asyncio.get_running_loop().run_in_executor(None, blocking)
        order.append("after")
        return result

    assert run_virtual(main(), ts) == "done"
    assert order == ["work", "after"]
    assert ts.monotonic_ns() == 0  # no virtual time passed for inline work


def test_datetime_conversions_are_exact_to_the_microsecond() -> None:
    moment = datetime(2026, 11, 21, 9, 56, 1, 123456, tzinfo=UTC)
    assert ns_to_datetime(datetime_to_ns(moment)) == moment
    with pytest.raises(ValueError, match="naive"):
        datetime_to_ns(datetime(2026, 1, 1))  # noqa: DTZ001
