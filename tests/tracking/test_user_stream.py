"""The user-stream tracker, driven event by event: events land in one tick's transaction, the
tracker falls back to REST polling while the stream is down or silent and sweeps after every
reconnect, and an event that cannot be applied never blocks the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import (
    Balance,
    BalanceUpdate,
    Fill,
    FillEvent,
    Order,
    OrderStatus,
    OrderUpdate,
    Side,
    StreamStatus,
    UserEvent,
)
from hufimm.store.db import Database
from hufimm.tracking import (
    AccountSync,
    BalanceTracker,
    OrderTracker,
    StreamMode,
    TrackedStatus,
    UserStreamTracker,
)
from hufimm.tracking.settings import UserStreamSettings

SYM = "BTC/USDT"
D = Decimal


class UserConnector:
    """A user stream the test feeds, and REST reads that only count themselves."""

    exchange_id = "fake"
    account = "a"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[UserEvent] = asyncio.Queue()
        self.rest_calls = 0

    async def watch_user(self, symbols: list[str] | None = None) -> AsyncIterator[UserEvent]:
        while True:
            yield await self.queue.get()

    async def fetch_fills(self, symbol: str, after: str | None = None, limit: int = 500) -> list:
        self.rest_calls += 1
        return []

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        self.rest_calls += 1
        return []

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        self.rest_calls += 1
        return order(OrderStatus.NEW)

    async def fetch_balances(self) -> dict[str, Balance]:
        self.rest_calls += 1
        return {"BTC": Balance("BTC", D(1), D(0))}


def order(status: OrderStatus, filled: str = "0") -> Order:
    return Order(
        SYM, "9", "hm1", Side.BUY, D(100), D(1), D(filled), D(filled) * 100, status, False, 1, 1
    )


def fill(trade_id: str) -> FillEvent:
    return FillEvent(
        Fill(
            "fake",
            "a",
            SYM,
            trade_id,
            "9",
            "hm1",
            Side.BUY,
            D(100),
            D("0.5"),
            D(50),
            D(0),
            "BTC",
            True,
            1,
        )
    )


class Rig:
    def __init__(self, db: Database, time_source: VirtualTimeSource) -> None:
        self.time = time_source
        self.conn = UserConnector()
        self.metrics = Metrics()
        self.orders = OrderTracker(db, time_source, self.metrics)
        self.balances = BalanceTracker(db, time_source)
        sync = AccountSync(self.conn, self.orders, self.balances, db, time_source)  # type: ignore[arg-type]
        settings = UserStreamSettings(silence_s=10, poll_interval_s=2)
        self.tracker = UserStreamTracker(
            sync, [SYM], db, time_source, self.metrics, SeededRng(1), settings
        )
        with db.begin() as c:
            self.orders.record_pending(c, "i", "hm1", "fake", "a", SYM, Side.BUY, D(100), D(1))

    def push(self, *events: UserEvent) -> None:
        for event in events:
            self.conn.queue.put_nowait(event)

    async def tick(self, advance_s: float = 0.0) -> None:
        if advance_s:
            await asyncio.sleep(advance_s)
        for _ in range(5):
            await asyncio.sleep(0)
        await self.tracker.on_tick(self.time.time_ns())


def run(db: Database, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    time_source = VirtualTimeSource()

    async def main() -> None:
        rig = Rig(db, time_source)
        await rig.tracker.start()
        try:
            await scenario(rig)
        finally:
            await rig.tracker.stop()

    run_virtual(main(), time_source)


def test_events_apply_and_rest_stands_in_while_the_stream_is_down(db: Database) -> None:
    async def scenario(r: Rig) -> None:
        await r.tick()
        assert r.tracker.mode is StreamMode.POLLING and not r.tracker.health().ok
        r.push(StreamStatus(True, "subscribed", 0))
        await r.tick(0.1)
        await r.tick(0.1)  # the poller ran the sweep the reconnect asked for
        swept = r.conn.rest_calls
        assert swept >= 3  # the sweep after (re)connecting: fills, open orders, balances
        r.push(
            OrderUpdate(order(OrderStatus.NEW), 1),
            fill("1"),
            OrderUpdate(order(OrderStatus.PARTIALLY_FILLED, "0.5"), 2),
            BalanceUpdate({"BTC": Balance("BTC", D(2), D(0))}, r.time.time_ns()),
        )
        await r.tick(0.1)
        assert r.tracker.mode is StreamMode.STREAM and r.tracker.health().ok
        tracked = r.orders.order("hm1")
        assert tracked is not None and tracked.status is TrackedStatus.PARTIALLY_FILLED
        assert tracked.fills_qty == D("0.5")
        assert r.balances.balances("fake", "a")["BTC"].free == D(2)
        await r.tick(1)
        assert r.conn.rest_calls == swept  # streaming: no polling
        r.push(StreamStatus(False, "socket closed", 0))
        await r.tick(0.1)
        assert r.tracker.mode is StreamMode.POLLING
        await r.tick(5)
        assert r.conn.rest_calls >= swept + 6  # polled at least twice
        r.push(StreamStatus(True, "subscribed", 0), fill("2"))
        await r.tick(0.1)
        assert r.tracker.mode is StreamMode.STREAM
        assert r.orders.order("hm1").status is TrackedStatus.FILLED  # type: ignore[union-attr]
        await r.tick(11)  # silence beyond silence_s: REST polling again
        assert r.tracker.mode is StreamMode.POLLING
        assert "silent" in r.tracker.health().reason

    run(db, scenario)


def test_an_event_that_cannot_be_applied_does_not_block_the_others(db: Database) -> None:
    async def scenario(r: Rig) -> None:
        real = r.orders.apply_fill

        def apply_fill(f: Fill, **kwargs: object) -> bool:
            if f.trade_id == "bad":
                raise ValueError("unparseable venue data")
            return real(f, **kwargs)  # type: ignore[arg-type]

        r.orders.apply_fill = apply_fill  # type: ignore[method-assign]
        r.push(StreamStatus(True, "subscribed", 0), fill("bad"), fill("1"))
        await r.tick(0.1)
        tracked = r.orders.order("hm1")
        assert tracked is not None and tracked.fills_qty == D("0.5")
        dropped = r.metrics.value(
            "tracking_user_events_dropped_total", {"exchange": "fake", "account": "a"}
        )
        assert dropped == 1

    run(db, scenario)
