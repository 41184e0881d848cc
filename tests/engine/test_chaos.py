"""The engine under every fault the simulated venue injects, killed with SIGKILL mid-run.

The venue and its Binance-compatible server live in this process, in real time, so they outlive
the engine; the engine runs in a child process that is killed at seeded moments and started
again on the same database, twice, before a last run stops quoting and drains.  Afterwards:

* no intent ever produced two orders on the venue (client ids are unique there);
* every intent is finished (DONE / FAILED) or, if still UNKNOWN, its order is not live;
* no process ever saw its live orders commit more than the pool's budget;
* the shadow tracker matches the venue order by order and fill by fill;
* the ledger verifies.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.ledger import Ledger, verify
from hufimm.pools import PoolStore, StrategyConfig, fund_pool
from hufimm.sim.exchange import FaultConfig, SimExchange, build_exchange
from hufimm.sim.exchange.market import default_spec
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.strategy.intents import IntentStatus, IntentStore
from hufimm.tracking import OrderTracker
from tests.exchange.harness import MM, serving
from tests.tracking.world import compare_fills, compare_with_venue, venue_holds

ROOT = Path(__file__).resolve().parents[2]
BTC = "c6d0c728-2624-429b-8e0d-d9d19b6592fa"
USDT = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
USER = "11111111-2222-4333-8444-555555555555"


async def seed_pool(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db)
    time_source = RealTimeSource()
    ledger = Ledger(db, time_source, Metrics())
    await ledger.start()
    try:
        store = PoolStore(db, time_source)
        pool = store.create(
            "chaos",
            "binance",
            "mm",
            "BTC/USDT",
            BTC,
            USDT,
            StrategyConfig(
                order_amount=Decimal("0.02"),
                order_levels=3,
                bid_spread=Decimal("0.0004"),
                ask_spread=Decimal("0.0004"),
                level_spread=Decimal("0.0005"),
                order_refresh_time_s=2,
                filled_order_delay_s=1,
                max_order_age_s=20,
            ),
        )
        await fund_pool(
            ledger,
            store,
            pool,
            user_id=USER,
            order_id="chaos-order",
            base_units=50_000_000,
            quote_units=3_000_000_000_000,
            share_price=Decimal(60000),
            deposit_first=True,
        )
    finally:
        await ledger.stop()
        db.dispose()


async def child(
    db_url: str, urls: tuple[str, str], status: Path, generation: int, finish: bool
) -> asyncio.subprocess.Process:
    args = [
        sys.executable,
        "-m",
        "tests.engine.engine_child",
        "--db",
        db_url,
        "--rest-url",
        urls[0],
        "--ws-url",
        urls[1],
        "--api-key",
        MM.api_key,
        "--secret",
        MM.secret,
        "--status",
        str(status),
        "--seed",
        "11",
        "--generation",
        str(generation),
        "--run-for",
        "4",
    ]
    if finish:
        args.append("--finish")
    return await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def until_ticks(process: asyncio.subprocess.Process, status: Path, ticks: int) -> None:
    """Wait until the child's status file shows ``ticks`` ticks (or the child exits)."""

    def seen() -> int:
        try:
            return int(json.loads(status.read_text())["ticks"])
        except (FileNotFoundError, ValueError, KeyError):
            return 0

    async def watch() -> None:
        while seen() < ticks and process.returncode is None:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(watch(), 180)


def chaotic_venue() -> SimExchange:
    spec = default_spec("BTC/USDT", price_interval_s=0.2, taker_rate_per_s=5.0)
    faults = FaultConfig(
        drop=0.02,
        dup=0.02,
        reorder=0.02,
        gap=0.01,
        disconnect=0.003,
        timeout=0.15,
        error5xx=0.05,
        ratelimit=0.05,
        stale=0.05,
    )
    return build_exchange(RealTimeSource(), 41, [spec], [MM], faults=faults)


@pytest.mark.slow
async def test_engine_survives_faults_and_kills_without_duplicates_or_breaches(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'engine.db'}"
    await seed_pool(db_url)
    venue = chaotic_venue()
    kills = SeededRng(2027)
    time_source = RealTimeSource()
    statuses: list[Path] = []
    async with serving(venue) as server:
        urls = (server.base_url, f"ws://{server.host}:{server.port}")
        for generation in range(3):
            status = tmp_path / f"status-{generation}.json"
            statuses.append(status)
            process = await child(db_url, urls, status, generation, finish=False)
            # Killed at a seeded tick, not a seeded second: a loaded machine ticks slower.
            await until_ticks(process, status, kills.randint(12, 22))
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
            _, stderr = await process.communicate()
            assert process.returncode == -signal.SIGKILL, stderr.decode()[-3000:]
        status = tmp_path / "status-final.json"
        statuses.append(status)
        last = await child(db_url, urls, status, 3, finish=True)
        _, stderr = await asyncio.wait_for(last.communicate(), 150)
        assert last.returncode == 0, stderr.decode()[-3000:]

    seen = [json.loads(path.read_text()) for path in statuses]
    assert all(s["ticks"] > 5 for s in seen), seen  # every process really ran
    assert sum(s["breaches"] for s in seen) == 0, seen

    db = Database(db_url)
    orders = OrderTracker(db, time_source, Metrics())
    counts = compare_with_venue(orders, venue, "binance", "mm")
    fills = compare_fills(orders, db, venue, "binance", "mm")
    assert counts.get("FILLED", 0) > 0 and counts.get("CANCELED", 0) > 20 and fills > 0
    assert all(venue.faults.counters[k].hits > 0 for k in ("timeout", "error5xx", "drop"))
    client_ids = [o.client_order_id for o in venue.engine.orders_of("mm")]
    assert len(client_ids) == len(set(client_ids)), "an intent produced two venue orders"
    with db.read() as conn:
        intents = IntentStore.with_status(conn, list(IntentStatus))
    assert {i.client_order_id for i in intents if i.client_order_id} >= set(client_ids)
    for intent in intents:
        assert intent.status not in (IntentStatus.NEW, IntentStatus.SENT), intent
        if intent.status is IntentStatus.UNKNOWN and intent.client_order_id:
            assert not venue_holds(venue, "mm", intent.client_order_id)
    assert not orders.open_orders("binance", "mm")
    assert verify(db).ok
    db.dispose()
