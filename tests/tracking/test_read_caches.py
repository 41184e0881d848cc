"""The per-account read caches of the trackers agree with their tables.

Market health verdicts (cached by the reconciler, their only writer), venue balances (cached by
the account's balance tracker, their only writer) and live order rows (cached by the engine's
order tracker, their only writer) are read every tick by the executors; the
copies must show exactly what is committed: after each write, after a rolled-back write, and
in a fresh process (a restart reads the table, not a copy).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Connection

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import Balance, Order, OrderRequest, OrderStatus, Side
from hufimm.sim.exchange import SimAccount, SimConnector, SimExchange, build_exchange
from hufimm.store.db import Database
from hufimm.tracking import (
    AccountTrackers,
    BalanceTracker,
    MarketHealthBoard,
    OrderTracker,
    TrackedOrder,
    TrackedStatus,
    TrackingSettings,
)

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
MM = SimAccount(
    "mm", "key-mm", "secret-mm", {"BTC": Decimal(10), "ETH": Decimal(5), "USDT": Decimal(1000)}
)
D = Decimal


def _board(db: Database) -> dict[str, tuple[bool, str]]:
    return {
        symbol: (health.healthy, health.reason)
        for exchange, account, symbol, health in MarketHealthBoard(db).all()
        if (exchange, account) == ("simex", "mm")
    }


def _trackers(db: Database, venue: SimExchange, time_source: VirtualTimeSource) -> AccountTrackers:
    return AccountTrackers.build(
        SimConnector(venue, MM.api_key),
        SYMBOLS,
        db,
        time_source,
        Metrics(),
        SeededRng(1),
        TrackingSettings.model_validate({"reconcile": {"fill_settle_s": 0}}),
    )


def test_market_health_cache_follows_every_verdict_and_a_restart(db: Database) -> None:
    time_source = VirtualTimeSource()
    venue = build_exchange(time_source, 3, SYMBOLS, [MM], run_market=False)

    def cached(t: AccountTrackers) -> dict[str, tuple[bool, str]]:
        return {s: (t.market_health(s).healthy, t.market_health(s).reason) for s in SYMBOLS}

    async def main() -> None:
        await venue.start()
        try:
            first = _trackers(db, venue, time_source)
            await first.start()
            assert cached(first) == _board(db)
            assert not any(healthy for healthy, _ in cached(first).values())
            assert (await first.reconciler.run()).outcome == "clean"
            assert cached(first) == _board(db)
            assert all(healthy for healthy, _ in cached(first).values())
            # A foreign order on ETH/USDT turns that market unhealthy on the next run.
            await SimConnector(venue, MM.api_key).create_order(_foreign_order(venue, "ETH/USDT"))
            await first.reconciler.run()
            assert cached(first) == _board(db)
            assert cached(first)["ETH/USDT"][0] is False and cached(first)["BTC/USDT"][0]
            # A restarted process starts from the table (and fails closed until reconciled).
            second = _trackers(db, venue, time_source)
            assert cached(second) == _board(db) == cached(first)
            await second.start()
            assert cached(second) == _board(db)
            assert not any(healthy for healthy, _ in cached(second).values())
        finally:
            await venue.stop()

    run_virtual(main(), time_source)


def _foreign_order(venue: SimExchange, symbol: str) -> OrderRequest:
    """An order some other client placed on our dedicated account."""
    bid, _ = venue.engine.best(symbol)
    assert bid is not None
    return OrderRequest(symbol, Side.BUY, bid * D("0.9"), D("0.01"), "manual-1")


def test_balance_cache_agrees_with_the_table_after_writes_and_a_rollback(
    db: Database, time_source: VirtualTimeSource
) -> None:
    writer = BalanceTracker(db, time_source, cache=True)
    uncached = BalanceTracker(db, time_source)
    assert writer.balances("simex", "mm") == uncached.balances("simex", "mm") == {}
    writer.apply("simex", "mm", {"BTC": Balance("BTC", D(1), D(0))}, 10, "rest")
    assert writer.balances("simex", "mm") == uncached.balances("simex", "mm")
    assert writer.balances("simex", "mm")["BTC"].free == D(1)

    # Inside the caller's transaction, then rolled back: the copy must not keep it.
    def failing_transaction() -> None:
        with db.begin() as conn:
            writer.apply(
                "simex", "mm", {"BTC": Balance("BTC", D(9), D(0))}, 20, "stream", conn=conn
            )
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        failing_transaction()
    assert writer.balances("simex", "mm")["BTC"].free == D(1)
    # Committed in the caller's transaction: visible at once.
    with db.begin() as conn:
        writer.apply("simex", "mm", {"BTC": Balance("BTC", D(2), D(1))}, 30, "stream", conn=conn)
    assert writer.balances("simex", "mm") == uncached.balances("simex", "mm")
    assert writer.balances("simex", "mm")["BTC"] == Balance("BTC", D(2), D(1))
    # An older report is not stored, and the copy does not pretend it was.
    writer.apply("simex", "mm", {"BTC": Balance("BTC", D(7), D(0))}, 25, "rest")
    assert writer.balances("simex", "mm") == uncached.balances("simex", "mm")
    # Callers may change what they got without touching the copy.
    got = writer.balances("simex", "mm")
    got.clear()
    assert writer.balances("simex", "mm") == uncached.balances("simex", "mm")
    # A restart (a new tracker) reads the table.
    assert BalanceTracker(db, time_source, cache=True).balances("simex", "mm") == (
        uncached.balances("simex", "mm")
    )


# ---------------------------------------------------------------------- live order rows


def _record(t: OrderTracker, conn: Connection, cid: str, price: str = "100") -> None:
    t.record_pending(conn, f"i-{cid}", cid, "simex", "mm", "BTC/USDT", Side.BUY, D(price), D(1))


def _venue(cid: str, status: OrderStatus, filled: str = "0") -> Order:
    return Order(
        "BTC/USDT",
        f"v-{cid}",
        cid,
        Side.BUY,
        D(100),
        D(1),
        D(filled),
        D(filled) * 100,
        status,
        False,
        1,
        2,
    )


def _live(t: OrderTracker) -> list[TrackedOrder]:
    return t.open_orders("simex", "mm")


def test_live_order_cache_holds_only_committed_rows_and_survives_a_restart(
    db: Database, time_source: VirtualTimeSource
) -> None:
    cached = OrderTracker(db, time_source, Metrics(), cache=True)
    table = OrderTracker(db, time_source, Metrics())  # reads the table every time
    assert _live(cached) == _live(table) == []
    with db.begin() as conn:
        _record(cached, conn, "hm-a")
        # Read-your-writes inside the transaction: the ack finds the row just recorded.
        assert cached.apply_order("simex", "mm", _venue("hm-a", OrderStatus.NEW), conn=conn)
    assert _live(cached) == _live(table)
    assert [o.status for o in _live(cached)] == [TrackedStatus.OPEN]

    def rolled_back() -> None:
        with db.begin() as conn:
            _record(cached, conn, "hm-b")
            cached.apply_order("simex", "mm", _venue("hm-a", OrderStatus.CANCELED), conn=conn)
            raise RuntimeError("the transaction fails after the writes")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert _live(cached) == _live(table)
    assert [(o.client_order_id, o.status) for o in _live(cached)] == [("hm-a", TrackedStatus.OPEN)]
    assert cached.order("hm-b") is None and cached.order("hm-a") == table.order("hm-a")
    # Writes in their own transactions: a partial fill, then a cancel takes it off the book.
    cached.apply_order("simex", "mm", _venue("hm-a", OrderStatus.PARTIALLY_FILLED, "0.4"))
    assert _live(cached) == _live(table) and _live(cached)[0].filled_qty == D("0.4")
    with db.begin() as conn:
        _record(cached, conn, "hm-c", "99")
    cached.request_cancel("hm-a")
    cached.apply_order("simex", "mm", _venue("hm-a", OrderStatus.CANCELED, "0.4"))
    assert _live(cached) == _live(table)
    assert [o.client_order_id for o in _live(cached)] == ["hm-c"]
    assert cached.order("hm-a") == table.order("hm-a")
    assert cached.open_orders("simex", "mm", "ETH/USDT") == []
    # A restart starts from the table.
    assert _live(OrderTracker(db, time_source, Metrics(), cache=True)) == _live(table)


def test_a_write_outside_database_begin_turns_the_cache_off(
    db: Database, time_source: VirtualTimeSource
) -> None:
    cached = OrderTracker(db, time_source, Metrics(), cache=True)
    table = OrderTracker(db, time_source, Metrics())
    with db.begin() as conn:
        _record(cached, conn, "hm-a")
    assert _live(cached) == _live(table)
    # A raw connection's commit cannot be observed: the tracker stops trusting its copy.
    with db.engine.begin() as raw:
        cached.apply_order("simex", "mm", _venue("hm-a", OrderStatus.CANCELED), conn=raw)
    assert _live(cached) == _live(table) == []
