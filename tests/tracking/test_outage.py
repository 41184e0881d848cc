"""A DNS-style outage: for two minutes every call to the venue fails before reaching it and the
streams are down, while the venue keeps trading our resting orders.  The lost-order thresholds
are tight (two answers a second apart), so counting a single network error as "not found" would
declare live orders lost.  None may be: afterwards every order matches the venue again."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.sim.exchange import FaultConfig, SimAccount, SimConnector, build_exchange
from hufimm.sim.exchange.market import default_spec
from hufimm.store.db import Database
from hufimm.tracking import AccountTrackers, StreamMode, TrackedStatus, TrackingSettings
from tests.tracking.world import (
    SYMBOL,
    OrderDriver,
    OutageConnector,
    compare_fills,
    compare_with_venue,
    venue_holds,
)

MM = SimAccount("mm", "key-mm", "secret-mm", {"BTC": Decimal(10), "USDT": Decimal(1_000_000)})
TIGHT = TrackingSettings.model_validate(
    {
        "book": {"silence_s": 10},
        "user_stream": {"silence_s": 30, "poll_interval_s": 1},
        "lost": {"confirmations": 2, "min_interval_s": 1, "min_age_s": 2},
        "reconcile": {"interval_s": 2, "recancel_after_s": 2, "fill_settle_s": 1},
    }
)


class Outage(TickComponent):
    phase = Phase.JOBS
    name = "outage"

    def __init__(self, conn: OutageConnector, trackers: AccountTrackers, begin: int, end: int):
        self.conn = conn
        self.trackers = trackers
        self.begin, self.end = begin, end
        self.during: list[tuple[bool, str, StreamMode]] = []

    async def on_tick(self, ts: int) -> None:
        down = self.begin <= ts < self.end
        if down != self.conn.down:
            self.conn.set_down(down)
        if down:
            health = self.trackers.market_health(SYMBOL)
            self.during.append((health.healthy, health.reason, self.trackers.user_stream.mode))


@pytest.mark.slow
def test_no_order_is_declared_lost_during_a_network_outage(db: Database) -> None:
    seed = 7
    time_source = VirtualTimeSource()
    spec = default_spec(SYMBOL, price_interval_s=0.5, taker_rate_per_s=4.0)
    venue = build_exchange(time_source, seed, [spec], [MM], faults=FaultConfig(timeout=0.1))
    metrics = Metrics()
    start = time_source.time_ns()
    begin, end = start + 60 * NS_PER_SECOND, start + 180 * NS_PER_SECOND
    stop = end + 60 * NS_PER_SECOND

    async def main() -> tuple[AccountTrackers, OrderDriver, Outage]:
        await venue.start()
        conn = OutageConnector(SimConnector(venue, MM.api_key))
        trackers = AccountTrackers.build(
            conn,
            [SYMBOL],
            db,
            time_source,
            metrics,
            SeededRng(seed),
            TIGHT,
        )
        clock = Clock(time_source, metrics, tick_size_s=0.5)
        trackers.register(clock)
        driver = OrderDriver(conn, trackers.orders, trackers.books, db, SeededRng(seed))
        outage = Outage(conn, trackers, begin, end)
        clock.register_all([driver, outage])
        await trackers.start()
        try:
            await clock.run(until_ns=stop)
            report = await trackers.reconciler.run()
            assert report.outcome == "clean", report
        finally:
            await venue.stop()
        return trackers, driver, outage

    trackers, driver, outage = run_virtual(main(), time_source)

    # During the outage: nothing could be read, so the market was unhealthy and REST stood in.
    assert outage.during and all(not healthy for healthy, _, _ in outage.during[10:])
    assert any("name resolution" in reason for _, reason, _ in outage.during)
    assert all(mode is StreamMode.POLLING for _, _, mode in outage.during[10:])
    # Lookups failed again and again, yet never counted.
    inconclusive = metrics.value("tracking_order_not_found_total", {"definitive": "false"})
    assert inconclusive > 20
    orders = trackers.orders.orders("simex", "mm")
    assert not [o for o in orders if o.status is TrackedStatus.LOST]
    assert not [
        o
        for o in orders
        if o.status is TrackedStatus.LOST and venue_holds(venue, "mm", o.client_order_id)
    ]
    assert driver.outcomes.get("unknown", 0) > 0  # ambiguous creates were in flight too
    counts = compare_with_venue(trackers.orders, venue, "simex", "mm")
    assert counts.get("FILLED", 0) > 5
    assert compare_fills(trackers.orders, db, venue, "simex", "mm") > 5
    assert trackers.market_health(SYMBOL).healthy
    assert not trackers.books.is_stale(SYMBOL)
