"""The trackers against the simulated exchange with every fault category on, in virtual time.

A driver places and cancels orders (write first, like the execution worker) while the venue
drops, duplicates and reorders stream messages, skips update ids, disconnects, serves stale
snapshots, answers orders "-1007 unknown" after executing them, and refuses requests with 503 and
429.  Throughout, a book that is not flagged stale must equal the venue's book at its update id;
after the faults stop the book must be live again within seconds; at the end every trade of ours
is recorded exactly once, every order's state and filled quantity match the venue, and no order
the venue holds was declared LOST (the orders deliberately never sent all are).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import Side
from hufimm.sim.exchange import (
    FaultConfig,
    SimAccount,
    SimConnector,
    SimExchange,
    build_exchange,
)
from hufimm.sim.exchange.market import default_spec
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.tracking import AccountTrackers, StreamMode, TrackingSettings
from tests.tracking.world import (
    SYMBOL,
    BookChecker,
    DepthHistory,
    OrderDriver,
    compare_fills,
    compare_with_venue,
)

MM = SimAccount("mm", "key-mm", "secret-mm", {"BTC": Decimal(10), "USDT": Decimal(1_000_000)})
EVERY_FAULT = FaultConfig(
    drop=0.01,
    dup=0.01,
    reorder=0.01,
    gap=0.005,
    disconnect=0.002,
    timeout=0.05,
    error5xx=0.05,
    ratelimit=0.03,
    stale=0.1,
)
SETTINGS = TrackingSettings.model_validate(
    {
        "book": {"silence_s": 10},
        "user_stream": {"silence_s": 20, "poll_interval_s": 2},
        "lost": {"confirmations": 3, "min_interval_s": 5, "min_age_s": 15},
        "reconcile": {"interval_s": 10, "recancel_after_s": 5, "fill_settle_s": 1},
    }
)


class Scenario(TickComponent):
    """Faults until ``fault_end``; then a quiet period in which the driver cancels everything;
    the market pauses shortly before the end so the final book can be compared exactly."""

    phase = Phase.JOBS
    name = "scenario"

    def __init__(
        self, venue: SimExchange, driver: OrderDriver, fault_end: int, pause_at: int
    ) -> None:
        self.venue = venue
        self.driver = driver
        self.fault_end = fault_end
        self.pause_at = pause_at
        self.paused = False

    async def on_tick(self, ts: int) -> None:
        if ts >= self.fault_end and self.driver.placing:
            self.venue.faults.config = FaultConfig()
            self.driver.placing = False
            self.driver.cancel_all = True
        if ts >= self.pause_at and not self.paused:
            self.paused = True
            await self.venue.pause_market()


@pytest.mark.slow
def test_trackers_reconstruct_the_venue_under_every_fault(sqlite_url: str) -> None:
    seed = 20260101
    time_source = VirtualTimeSource()
    spec = default_spec(SYMBOL, price_interval_s=0.5, taker_rate_per_s=4.0)
    venue = build_exchange(time_source, seed, [spec], [MM], faults=EVERY_FAULT)
    history = DepthHistory(venue)
    db = Database(sqlite_url, sqlite_synchronous="NORMAL")
    upgrade(db)
    metrics = Metrics()
    start = time_source.time_ns()
    fault_end = start + 600 * NS_PER_SECOND
    end = fault_end + 90 * NS_PER_SECOND

    async def main() -> tuple[AccountTrackers, BookChecker, OrderDriver]:
        await venue.start()
        conn = SimConnector(venue, MM.api_key)
        trackers = AccountTrackers.build(
            conn, [SYMBOL], db, time_source, metrics, SeededRng(seed), SETTINGS
        )
        clock = Clock(time_source, metrics, tick_size_s=0.5)
        trackers.register(clock)
        checker = BookChecker(trackers.books, history)
        driver = OrderDriver(
            conn, trackers.orders, trackers.books, db, SeededRng(seed), skip_send_rate=0.02
        )
        clock.register_all(
            [checker, driver, Scenario(venue, driver, fault_end, end - 10 * NS_PER_SECOND)]
        )
        await trackers.start()
        assert not trackers.market_health(SYMBOL).healthy  # fail closed before the first run
        try:
            await clock.run(until_ns=end)
            # The last stream events are in; reconciliation settles what the faults left open.
            for _ in range(12):
                report = await trackers.reconciler.run()
                if report.outcome == "clean":
                    break
                await asyncio.sleep(5)
            assert report.outcome == "clean", report
            final = trackers.books  # stopped by the clock, its last state is the final one
            book = final._markets[SYMBOL].book
            seq, bids, asks = venue.engine.depth(SYMBOL)
            assert (book.seq, book.levels(Side.BUY), book.levels(Side.SELL)) == (seq, bids, asks)
        finally:
            await venue.stop()
        return trackers, checker, driver

    trackers, checker, driver = run_virtual(main(), time_source)

    # Every fault category fired, and the trackers noticed.
    observed = venue.faults.observed()
    for category in (
        "drop",
        "dup",
        "reorder",
        "gap",
        "disconnect",
        "timeout",
        "error5xx",
        "ratelimit",
        "stale",
    ):
        assert observed[category].hits > 0, category
    labels = {"exchange": "simex", "symbol": SYMBOL}
    for cause in ("gap", "disconnect"):
        assert metrics.value("tracking_book_resyncs_total", labels | {"cause": cause}) > 0, cause
    assert (
        metrics.value(
            "tracking_user_sweeps_total", {"exchange": "simex", "account": "mm", "complete": "true"}
        )
        > 0
    )

    # The book: exact whenever not stale, and live again soon after the faults stopped.
    assert checker.mismatches == []
    assert checker.checks > 1000
    assert (
        checker.last_stale_ts is not None and checker.last_stale_ts < fault_end + 5 * NS_PER_SECOND
    )

    # Orders and fills: the venue's truth, each trade once, no false losses.
    counts = compare_with_venue(trackers.orders, venue, "simex", "mm")
    assert counts.get("LOST", 0) == driver.outcomes.get("never_sent", 0) > 0
    assert counts.get("FILLED", 0) > 10 and counts.get("CANCELED", 0) > 10
    assert driver.outcomes.get("unknown", 0) > 0
    assert compare_fills(trackers.orders, db, venue, "simex", "mm") > 20
    account = {"exchange": "simex", "account": "mm"}
    for mode in StreamMode:  # the stream went down or silent, REST stood in, and it came back
        changes = metrics.value("tracking_user_stream_mode_changes_total", account | {"mode": mode})
        assert changes > 0, mode
    assert trackers.user_stream.stream_up
    assert trackers.market_health(SYMBOL).healthy
    db.dispose()
