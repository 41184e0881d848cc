"""The per-account read caches of the trackers agree with their tables.

Market health verdicts (cached by the reconciler, their only writer) and venue balances (cached
by the account's balance tracker, their only writer) are read every tick by the executors; the
copies must show exactly what is committed: after each write, after a rolled-back write, and
in a fresh process (a restart reads the table, not a copy).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import Balance, OrderRequest, Side
from hufimm.sim.exchange import SimAccount, SimConnector, SimExchange, build_exchange
from hufimm.store.db import Database
from hufimm.tracking import AccountTrackers, BalanceTracker, MarketHealthBoard, TrackingSettings

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
