"""Kill the tracking process with SIGKILL mid-run, start it again on the same database, and it
recovers the venue's truth exactly like a run that was never killed: every order of ours with
its final state and filled quantity, every fill once with one FILL_EVENT, nothing duplicated.

The venue and its Binance-compatible server live in this (parent) process, in real time, so
they outlive the child; the child talks to them through the ccxt connector.  The kill lands at a
seeded moment while orders are being placed, cancelled and filled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.sim.exchange import SimExchange
from hufimm.store.db import Database
from hufimm.tracking import OrderTracker, TrackedStatus
from tests.exchange.harness import MM, make_venue, serving
from tests.tracking.world import compare_fills, compare_with_venue

ROOT = Path(__file__).resolve().parents[2]


async def child(
    db_url: str, server_urls: tuple[str, str], generation: int, place_for: float
) -> asyncio.subprocess.Process:
    rest_url, ws_url = server_urls
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.tracking.restart_child",
        "--db",
        db_url,
        "--rest-url",
        rest_url,
        "--ws-url",
        ws_url,
        "--api-key",
        MM.api_key,
        "--secret",
        MM.secret,
        "--seed",
        "5",
        "--generation",
        str(generation),
        "--place-for",
        str(place_for),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> None:
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()[-3000:]


def recorded_orders(db_url: str) -> int:
    db = Database(db_url)
    try:
        return len(OrderTracker(db, RealTimeSource(), Metrics()).orders())
    except OperationalError:  # the child has not created its tables yet
        return 0
    finally:
        db.dispose()


async def until_recorded(process: asyncio.subprocess.Process, db_url: str, orders: int) -> None:
    """Wait until the child has recorded ``orders`` orders (or exited)."""

    async def watch() -> None:
        while recorded_orders(db_url) < orders and process.returncode is None:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(watch(), 120)


async def run(venue: SimExchange, db_url: str, kill_at: int | None) -> int:
    """One run against ``venue``; with ``kill_at`` the first child is SIGKILLed once it has
    recorded that many orders (a seeded moment in its work, not in wall-clock time, which a
    loaded machine stretches) and a second one finishes the job.  Returns how many orders the
    first child had recorded (0 without a kill)."""
    async with serving(venue) as server:
        urls = (server.base_url, f"ws://{server.host}:{server.port}")
        if kill_at is None:
            await finish(await child(db_url, urls, 0, place_for=6.0))
            return 0
        first = await child(db_url, urls, 0, place_for=60.0)
        await until_recorded(first, db_url, kill_at)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        recorded = recorded_orders(db_url)
        await finish(await child(db_url, urls, 1, place_for=3.0))
        return recorded


def verify(venue: SimExchange, db_url: str) -> dict[str, int]:
    db = Database(db_url)
    orders = OrderTracker(db, RealTimeSource(), Metrics())
    counts = compare_with_venue(orders, venue, "binance", "mm")
    fills = compare_fills(orders, db, venue, "binance", "mm")
    assert not orders.open_orders("binance", "mm")
    lost = [o for o in orders.orders() if o.status is TrackedStatus.LOST]
    assert all(o.exchange_order_id is None for o in lost)
    db.dispose()
    return counts | {"fills": fills}


@pytest.mark.slow
async def test_a_killed_tracker_recovers_the_same_state_as_an_unkilled_one(tmp_path: Path) -> None:
    kill_at = SeededRng(2026).randint(5, 12)
    control_venue = make_venue(RealTimeSource(), seed=31)
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    await run(control_venue, control_url, kill_at=None)
    control = verify(control_venue, control_url)

    killed_venue = make_venue(RealTimeSource(), seed=31)
    killed_url = f"sqlite:///{tmp_path / 'killed.db'}"
    before_kill = await run(killed_venue, killed_url, kill_at=kill_at)
    killed = verify(killed_venue, killed_url)

    assert before_kill > 3  # the kill landed mid-run, with orders in flight
    for counts in (control, killed):
        assert counts.get("FILLED", 0) > 0 and counts["fills"] > 0
        assert counts.get("CANCELED", 0) > 0
    balances = killed_venue.balances("mm")
    assert balances["USDT"][1] == 0 and balances["BTC"][1] == 0  # nothing left locked
    assert Decimal(0) <= balances["BTC"][0]
