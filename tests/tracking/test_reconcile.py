"""Reconciliation runs against the simulated venue (no background market, so nothing moves
unless the test moves it): orphans by policy, repeated cancels, fill backfill, balance sanity,
the lost-order protocol, summary rows and market health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy import select

from hufimm.core.clock import HealthStatus
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import OrderRequest, Side
from hufimm.sim.exchange import SimAccount, SimConnector, SimExchange, build_exchange
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from hufimm.tracking import (
    AccountTrackers,
    OrderTracker,
    TrackedOrder,
    TrackedStatus,
    TrackingSettings,
)
from hufimm.tracking.events import MARKET_HEALTH_EVENT
from hufimm.tracking.tables import tracking_reconciliations

SYMBOL = "BTC/USDT"
MM = SimAccount("mm", "key-mm", "secret-mm", {"BTC": Decimal(10), "USDT": Decimal(1_000_000)})
D = Decimal


def got(tracker: OrderTracker, client_order_id: str) -> TrackedOrder:
    order = tracker.order(client_order_id)
    assert order is not None, client_order_id
    return order


def settings(**reconcile: object) -> TrackingSettings:
    return TrackingSettings.model_validate(
        {
            "lost": {"confirmations": 3, "min_interval_s": 5, "min_age_s": 5},
            "reconcile": {"recancel_after_s": 5, "fill_settle_s": 0, **reconcile},
        }
    )


Scenario = Callable[[AccountTrackers, SimConnector, SimExchange], Awaitable[None]]


def run(db: Database, scenario: Scenario, **reconcile: object) -> AccountTrackers:
    time_source = VirtualTimeSource()
    venue = build_exchange(time_source, 3, [SYMBOL], [MM], run_market=False)

    async def main() -> AccountTrackers:
        await venue.start()
        conn = SimConnector(venue, MM.api_key)
        trackers = AccountTrackers.build(
            conn, [SYMBOL], db, time_source, Metrics(), SeededRng(1), settings(**reconcile)
        )
        await trackers.start()
        try:
            await scenario(trackers, conn, venue)
        finally:
            await venue.stop()
        return trackers

    return run_virtual(main(), time_source)


async def place(
    trackers: AccountTrackers,
    conn: SimConnector,
    cid: str,
    side: Side,
    price: Decimal,
    qty: str = "0.01",
    record: bool = True,
    send: bool = True,
) -> None:
    if record:
        with trackers.orders._db.begin() as c:
            trackers.orders.record_pending(
                c, f"i-{cid}", cid, "simex", "mm", SYMBOL, side, price, D(qty)
            )
    if send:
        ack = await conn.create_order(OrderRequest(SYMBOL, side, price, D(qty), cid))
        if record:
            trackers.orders.apply_order("simex", "mm", ack)


def best(venue: SimExchange) -> tuple[Decimal, Decimal]:
    bid, ask = venue.engine.best(SYMBOL)
    assert bid is not None and ask is not None
    return bid, ask


def test_orphans_are_cancelled_or_adopted_by_policy(db: Database) -> None:
    async def cancel_policy(t: AccountTrackers, conn: SimConnector, venue: SimExchange) -> None:
        bid, _ = best(venue)
        assert not t.market_health(SYMBOL).healthy  # nothing reconciled yet: fail closed
        await place(t, conn, "hm-orphan", Side.BUY, bid - 10, record=False)
        await place(t, conn, "manual-1", Side.BUY, bid - 11, record=False)
        report = await t.reconciler.run()
        assert report.found["unknown_ours"] == 1 and report.found["foreign_open"] == 1
        assert report.did["orphans_cancelled"] == 1
        orphan = t.orders.order("hm-orphan")
        assert orphan is not None and orphan.status is TrackedStatus.CANCELED
        assert orphan.origin == "adopted"
        assert [o.client_order_id for o in venue.open_orders("mm")] == ["manual-1"]
        # Someone else trades this dedicated account: the market is not ours to quote.
        assert report.outcome == "unresolved" and not t.market_health(SYMBOL).healthy
        assert "foreign open order manual-1" in report.problems[SYMBOL][0]
        await conn.cancel_order(SYMBOL, "manual-1")
        assert (await t.reconciler.run()).outcome == "clean"
        assert t.market_health(SYMBOL).healthy

    run(db, cancel_policy)


def test_a_balance_mismatch_counts_once_it_persists(db: Database) -> None:
    async def drift(t: AccountTrackers, conn: SimConnector, venue: SimExchange) -> None:
        assert (await t.reconciler.run()).outcome == "clean"
        venue.engine._entry("mm", "USDT")[1] += D(7)  # funds locked by no order (a hold)
        first = await t.reconciler.run()
        assert first.found["balance_mismatch"] == 1 and first.outcome == "clean"
        second = await t.reconciler.run()
        assert second.outcome == "unresolved"
        assert "USDT locked" in second.problems["*"][0]
        assert not t.market_health(SYMBOL).healthy
        health = t.reconciler.health()
        assert health.status is HealthStatus.DEGRADED and "USDT locked" in health.reason
        venue.engine._entry("mm", "USDT")[1] -= D(7)
        assert (await t.reconciler.run()).outcome == "clean"
        assert t.market_health(SYMBOL).healthy and t.reconciler.health().ok

    run(db, drift)
    with db.read() as conn:
        flips = [
            json.loads(p)["healthy"]
            for p in conn.execute(
                select(outbox_events.c.payload)
                .where(outbox_events.c.event_type == MARKET_HEALTH_EVENT)
                .order_by(outbox_events.c.event_id)
            ).scalars()
        ]
    assert flips == [False, True, False, True]  # start, first clean run, drift, repaired


def test_adopt_policy_tracks_the_orphan_as_exposure(db: Database) -> None:
    async def adopt_policy(t: AccountTrackers, conn: SimConnector, venue: SimExchange) -> None:
        _, ask = best(venue)
        await place(t, conn, "hm-orphan", Side.SELL, ask + 10, qty="0.5", record=False)
        report = await t.reconciler.run()
        assert report.did == {"adopted": 1} and report.outcome == "resolved"
        assert t.orders.exposure("simex", "mm", SYMBOL).base == D("0.5")
        assert (await t.reconciler.run()).outcome == "clean"
        assert t.market_health(SYMBOL).healthy

    run(db, adopt_policy, unknown_order_policy="adopt")


def test_fills_missing_from_the_stream_are_backfilled(db: Database) -> None:
    async def backfill(t: AccountTrackers, conn: SimConnector, venue: SimExchange) -> None:
        _, ask = best(venue)
        await place(t, conn, "hm-take", Side.BUY, ask, qty="0.02")  # crosses: fills at once
        order = t.orders.order("hm-take")
        assert order is not None and order.status is TrackedStatus.FILLED
        assert order.missing_fill_qty == D("0.02")  # the ack said so; no fill recorded yet
        report = await t.reconciler.run()
        assert report.did["fills_backfilled"] >= 1 and report.outcome == "resolved"
        order = t.orders.order("hm-take")
        assert order is not None and order.missing_fill_qty == 0
        assert t.sync.cursor(SYMBOL) is not None
        assert (await t.reconciler.run()).outcome == "clean"  # nothing recorded twice

    run(db, backfill)


def test_a_cancel_that_did_not_land_is_sent_again(db: Database) -> None:
    async def recancel(t: AccountTrackers, conn: SimConnector, venue: SimExchange) -> None:
        bid, _ = best(venue)
        await place(t, conn, "hm-stuck", Side.BUY, bid - 5)
        t.orders.request_cancel("hm-stuck")  # ... and the cancel request was lost
        report = await t.reconciler.run()
        assert "recancelled" not in report.did  # not yet: it may still land
        await asyncio.sleep(6)
        report = await t.reconciler.run()
        assert report.did["recancelled"] == 1
        assert got(t.orders, "hm-stuck").status is TrackedStatus.CANCELED

    run(db, recancel)


def test_an_order_that_never_reached_the_venue_is_declared_lost(db: Database) -> None:
    async def lost(t: AccountTrackers, conn: SimConnector, venue: SimExchange) -> None:
        bid, _ = best(venue)
        await place(t, conn, "hm-ghost", Side.BUY, bid - 5, qty="1", send=False)
        assert t.orders.exposure("simex", "mm", SYMBOL).quote == bid - 5
        young = await t.reconciler.run()
        assert young.found["not_yet_visible"] == 1 and young.outcome == "clean"
        verdicts = []
        for _ in range(4):
            await asyncio.sleep(6)
            verdicts.append(await t.reconciler.run())
        assert verdicts[0].outcome == "unresolved"  # old enough to worry, not yet lost
        assert verdicts[0].problems == {SYMBOL: ["hm-ghost not found on the venue (2/3)"]}
        assert verdicts[1].did == {"declared_lost": 1} and verdicts[1].outcome == "resolved"
        assert verdicts[-1].outcome == "clean" and t.market_health(SYMBOL).healthy
        assert got(t.orders, "hm-ghost").status is TrackedStatus.LOST
        assert t.orders.exposure("simex", "mm", SYMBOL).quote == 0

    run(db, lost)
    with db.read() as conn:
        rows = conn.execute(
            select(tracking_reconciliations).order_by(tracking_reconciliations.c.run_id)
        ).all()
    assert [r.outcome for r in rows][:2] == ["clean", "unresolved"]
    assert "not found" in json.loads(rows[1].problems)["BTC/USDT"][0]
