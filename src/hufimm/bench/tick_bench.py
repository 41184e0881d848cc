"""Engine tick cost: how long one tick of trackers + executors + intent writes takes.

The engine is the real one (:func:`hufimm.engine.build_engine`) on a SQLite file in the bench
workdir (WAL, ``synchronous=FULL``), funded through the real ledger, trading on the simulated
exchange through its in-process connector, in virtual time.  The venue moves every market's
price every second (about one refresh tolerance per second, so some levels are re-quoted every
tick) and publishes one depth diff per market per second; executors refresh every tick with 5
levels a side.

The figure is the tick as the strategy layer sees it: the TRACKERS phase (book diffs applied,
user stream: order updates, fills, balances) plus the STRATEGY phase (every executor decides,
all intents of the tick written in one transaction).  The EXECUTION phase (the worker's durable
writes around each venue call, and the simulated venue answering in-process) and the JOBS
phase (reconciliation, outbox) are measured the same way and reported in ``extra``, not in the
figure: they scale with how many orders the venue sees, not with the decision work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from hufimm.bench.harness import BenchOptions, Figure, percentile
from hufimm.core.clock import Clock, Phase
from hufimm.core.ids import IdFactory
from hufimm.core.logs import configure_logging
from hufimm.core.metrics import Metrics
from hufimm.core.money import MIXIN_PRECISION, to_units_exact
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_MS, NS_PER_SECOND, Stopwatch, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.engine import build_engine
from hufimm.ledger import Ledger
from hufimm.pools import PoolStore, StrategyConfig, fund_pool
from hufimm.sim.exchange import SimAccount, SimConnector, VenueLimits, build_exchange
from hufimm.sim.exchange.market import default_spec
from hufimm.store.db import Database
from hufimm.store.migrate import upgrade
from hufimm.strategy.intents import IntentStore
from hufimm.tracking import TrackingSettings

QUOTE = "USDT"
QUOTE_ASSET = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
LEVELS = 5
GOAL_MARKETS = 1000
GOAL_MS = 100.0
PEER = "TypeScript engine (documented)"
PEER_MS_10 = 500.0
WARMUP_TICKS = 3
SEED = 5


@dataclass(frozen=True)
class Case:
    markets: int
    ticks: int


def _cases(quick: bool) -> list[Case]:
    # The execution phase (durable writes around every venue call) dominates the run time at
    # 1000 markets, so the big case measures fewer ticks.
    if quick:
        return [Case(10, 20), Case(100, 5), Case(1000, 2)]
    return [Case(10, 120), Case(100, 30), Case(1000, 10)]


def _symbols(markets: int) -> list[str]:
    return [f"M{i:04d}/{QUOTE}" for i in range(markets)]


@dataclass
class _Measured:
    tick_ms: list[float]
    execution_ms: list[float]
    jobs_ms: list[float]
    intents: int
    orders: int
    setup_s: float


async def _measure(case: Case, db_path: Path, time_source: VirtualTimeSource) -> _Measured:
    setup = Stopwatch()
    metrics = Metrics()
    rng = SeededRng(SEED)
    ids = IdFactory(time_source, rng.child("ids"))
    db = Database(f"sqlite:///{db_path}")
    upgrade(db)
    symbols = _symbols(case.markets)
    balances = {QUOTE: Decimal(1_000 * case.markets)}
    balances |= {s.split("/")[0]: Decimal(1_000) for s in symbols}
    account = SimAccount("mm", "bench-key", "bench-secret", balances)
    # ~0.05 %/s moves at price 1 (half the refresh tolerance): some levels move every tick.
    specs = [default_spec(s, volatility_per_day=0.15, taker_rate_per_s=0.2) for s in symbols]
    venue = build_exchange(
        time_source,
        SEED,
        specs,
        [account],
        depth_interval_s=1.0,
        limits=VenueLimits(
            request_weight_per_minute=10**9, orders_per_10s=10**9, orders_per_day=10**12
        ),
    )
    clock = Clock(time_source, metrics)
    ledger = Ledger(db, time_source, metrics)
    await venue.start()
    connector = SimConnector(venue, account.api_key, rng.child("connector"))
    await connector.start()
    await ledger.start()
    try:
        store = PoolStore(db, time_source)
        strategy = StrategyConfig(
            order_amount=Decimal(10),
            order_levels=LEVELS,
            bid_spread=Decimal("0.002"),
            ask_spread=Decimal("0.002"),
            level_spread=Decimal("0.001"),
            order_refresh_time_s=1,
            filled_order_delay_s=0,
        )
        pools = [
            store.create(
                f"bench-{i:04d}",
                connector.exchange_id,
                account.name,
                symbol,
                ids.derive_str("bench-asset", symbol),
                QUOTE_ASSET,
                strategy,
            )
            for i, symbol in enumerate(symbols)
        ]
        user = ids.derive_str("bench-user")
        units = to_units_exact(Decimal(200), MIXIN_PRECISION)
        await asyncio.gather(
            *(
                fund_pool(
                    ledger,
                    store,
                    pool,
                    user_id=user,
                    order_id=f"bench-order-{pool.pool_id}",
                    base_units=units,
                    quote_units=units,
                    share_price=Decimal(1),
                    deposit_first=True,
                )
                for pool in pools
            )
        )
        engine = await build_engine(
            db=db,
            time_source=time_source,
            metrics=metrics,
            rng=rng.child("engine"),
            ids=ids,
            clock=clock,
            ledger=ledger,
            pools=store.active(),
            connectors={(connector.exchange_id, account.name): connector},
            tracking=TrackingSettings(),
            budget_refresh_s=5.0,
        )
        setup_s = setup.elapsed_ns() / NS_PER_SECOND
        with db.read() as conn:
            before = sum(IntentStore.counts_by_status(conn).values())
        measured = await _run_ticks(clock, time_source, case.ticks)
        with db.read() as conn:
            intents = sum(IntentStore.counts_by_status(conn).values()) - before
        orders = len(engine.orders.orders(connector.exchange_id, account.name))
        return _Measured(*measured, intents=intents, orders=orders, setup_s=setup_s)
    finally:
        await ledger.stop()
        await connector.close()
        await venue.stop()
        db.dispose()


async def _run_ticks(
    clock: Clock, time_source: VirtualTimeSource, ticks: int
) -> tuple[list[float], list[float], list[float]]:
    """Tick the clock's components in its order, timing the phases apart."""
    tick_ms: list[float] = []
    execution_ms: list[float] = []
    jobs_ms: list[float] = []
    await clock.start()
    try:
        next_tick = (time_source.time_ns() // clock.tick_ns + 1) * clock.tick_ns
        for n in range(WARMUP_TICKS + ticks):
            await time_source.sleep((next_tick - time_source.time_ns()) / NS_PER_SECOND)
            spent = dict.fromkeys(Phase, 0)
            for component in clock.components:
                watch = Stopwatch()
                await component.on_tick(next_tick)
                spent[component.phase] += watch.elapsed_ns()
            if n >= WARMUP_TICKS:
                tick_ms.append((spent[Phase.TRACKERS] + spent[Phase.STRATEGY]) / NS_PER_MS)
                execution_ms.append(spent[Phase.EXECUTION] / NS_PER_MS)
                jobs_ms.append(spent[Phase.JOBS] / NS_PER_MS)
            next_tick += clock.tick_ns
    finally:
        await clock.stop()
    return tick_ms, execution_ms, jobs_ms


def _figures(case: Case, m: _Measured) -> list[Figure]:
    name = f"{case.markets} markets x {LEVELS} levels a side, {case.ticks} ticks"
    extra = {
        "measured": "TRACKERS + STRATEGY phases (books, user stream, executors, intent writes)",
        "excluded": "EXECUTION (worker writes + in-process simulated venue calls), JOBS",
        "execution_ms_p50": round(percentile(m.execution_ms, 0.5), 3),
        "execution_ms_p99": round(percentile(m.execution_ms, 0.99), 3),
        "jobs_ms_p50": round(percentile(m.jobs_ms, 0.5), 3),
        "intents_per_tick": round(m.intents / (case.ticks + WARMUP_TICKS), 1),
        "orders_total": m.orders,
        "setup_s": round(m.setup_s, 2),
        "database": "SQLite file, WAL, synchronous=FULL",
    }
    peer = PEER if case.markets == 10 else None
    peer_value = PEER_MS_10 if case.markets == 10 else None
    goal = f"{GOAL_MARKETS} markets < {GOAL_MS:.0f} ms" if case.markets == GOAL_MARKETS else None
    return [
        Figure(
            "tick",
            name,
            "p50",
            percentile(m.tick_ms, 0.5),
            "ms",
            peer=peer,
            peer_value=peer_value,
            goal=goal,
            extra=extra,
        ),
        Figure(
            "tick",
            name,
            "p99",
            percentile(m.tick_ms, 0.99),
            "ms",
            peer=peer,
            peer_value=peer_value,
            goal=goal,
        ),
    ]


def run(options: BenchOptions) -> list[Figure]:
    figures: list[Figure] = []
    for case in _cases(options.quick):
        db_path = options.workdir / f"tick-{case.markets}.db"
        _remove(db_path)
        time_source = VirtualTimeSource()
        configure_logging(time_source, "console", "WARNING")  # not a line per pool
        measured = run_virtual(_measure(case, db_path, time_source), time_source)
        figures.extend(_figures(case, measured))
        _remove(db_path)
    return figures


def _remove(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
