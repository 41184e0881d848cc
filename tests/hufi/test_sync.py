"""Campaign sync into the database (SQLite and PostgreSQL) from the simulated launcher."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from hufimm.core.metrics import Metrics
from hufimm.hufi.errors import HufiUnavailable
from hufimm.hufi.records import load_campaign
from hufimm.hufi.tables import campaigns, status_history
from hufimm.sim.hufi import Fault, SimCampaign, new_campaign
from hufimm.sim.hufi.campaigns import DAY_NS
from hufimm.store.db import Database
from tests.hufi.support import asgi_service, in_process_world, service_settings


def _history(db: Database, address: str) -> list[tuple[str, str | None]]:
    with db.read() as conn:
        rows = conn.execute(
            select(status_history.c.lifecycle, status_history.c.previous_lifecycle)
            .where(status_history.c.address == address)
            .order_by(status_history.c.id)
        ).all()
    return [(r.lifecycle, r.previous_lifecycle) for r in rows]


async def test_sync_mirrors_campaigns_and_records_every_status_change(db: Database) -> None:
    time, _, world = in_process_world()
    now = time.time_ns()

    def campaign(name: str, exchange: str, start: int, **extra: Any) -> SimCampaign:
        made = new_campaign(
            world.defaults,
            name=name,
            chain_id=137,
            type="MARKET_MAKING",
            exchange_name=exchange,
            symbol="HMT/USDT",
            details={"daily_volume_target": Decimal(5000)},
            start_ns=start,
            end_ns=start + 3 * DAY_NS,
            fund_units=3_000 * 10**6,
            created_ns=now,
            **extra,
        )
        world.add_campaigns([made])
        return made

    upcoming = campaign("upcoming", "mexc", now + DAY_NS // 2)
    running = campaign("running", "bybit", now - DAY_NS)
    broken = campaign("broken", "mexc", now, manifest_valid=False)
    service = asgi_service(service_settings(), db, time, world, Metrics())

    report = await service.sync.sync_once()
    assert (report.listed, report.inserted, report.changes) == (2, 2, 2)
    with db.read() as conn:
        up = load_campaign(conn, 137, upcoming.address)
        run = load_campaign(conn, 137, running.address)
        assert load_campaign(conn, 137, broken.address) is None
    assert up is not None and run is not None
    assert (up.lifecycle, up.matches_market) == ("upcoming", True)
    assert (run.lifecycle, run.matches_market) == ("running", False)
    assert up.fund_amount == 3_000 * 10**6
    assert up.fee_percent_total == Decimal(3)  # details fetched for a market we make
    assert run.fee_percent_total is None  # not ours: no extra request
    assert up.cycle_count() == 3 and up.cycle_bounds(2)[1] == upcoming.end_ns
    assert up.daily_reward() == Decimal(970)  # (3000 × 97 %) / 3 days

    time.advance(DAY_NS // 2 / 1e9 + 1)
    world.request_cancellation(137, running.address)
    await service.sync.sync_once()
    time.advance(3600)
    world.finish(137, running.address, "cancelled")
    await service.sync.sync_once()
    assert _history(db, upcoming.address) == [("upcoming", None), ("running", "upcoming")]
    assert _history(db, running.address) == [
        ("running", None),
        ("to_cancel", "running"),
        ("cancelled", "to_cancel"),
    ]
    with db.read() as conn:
        cancelled = load_campaign(conn, 137, running.address)
    assert cancelled is not None and cancelled.cycle_count() == 2  # the last cycle ends early
    await service.aclose()


async def test_a_failed_listing_leaves_the_mirror_untouched(db: Database) -> None:
    time, _, world = in_process_world()
    now = time.time_ns()
    made = new_campaign(
        world.defaults,
        name="steady",
        chain_id=137,
        type="MARKET_MAKING",
        exchange_name="mexc",
        symbol="HMT/USDT",
        details={"daily_volume_target": Decimal(5000)},
        start_ns=now,
        end_ns=now + DAY_NS,
        fund_units=10**6,
        created_ns=now,
    )
    world.add_campaigns([made])
    service = asgi_service(service_settings(), db, time, world, Metrics())
    await service.sync.sync_once()
    world.launcher_faults.add(Fault("status", path="/campaigns", status=502, times=-1))
    with pytest.raises(HufiUnavailable):
        await service.sync.sync_once()
    with db.read() as conn:
        rows = conn.execute(select(campaigns.c.address, campaigns.c.status)).all()
    assert [(r.address, r.status) for r in rows] == [(made.address, "active")]
    await service.aclose()
