"""The demo: the whole engine in virtual time against the simulated exchange.

A pool for BTC/USDT is funded through ledger deposits and locks by two users, the engine quotes
it for the requested simulated minutes, then stops quoting and drains, a last reconciliation
runs, and the report says what happened: orders, fills, volumes, inventory, fees, tick cost,
intents by status, duplicate orders, reconciliation and the ledger's verification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hufimm.app import App
from hufimm.core.clock import Phase, TickComponent
from hufimm.core.money import MIXIN_PRECISION, MONEY_CONTEXT, to_units_exact
from hufimm.core.timesource import NS_PER_SECOND
from hufimm.demo.world import SYMBOL, DemoWorld, open_world
from hufimm.engine import Engine, build_engine
from hufimm.ledger import Ledger, verify
from hufimm.pools import PoolStore, StrategyConfig, fund_pool
from hufimm.settings import Settings
from hufimm.sim.exchange import FaultConfig
from hufimm.store.outbox import counts_by_status as outbox_counts
from hufimm.strategy.intents import IntentStore

#: Mixin asset ids of the demo's assets (BTC, and USDT as an ERC-20).
BTC_ASSET = "c6d0c728-2624-429b-8e0d-d9d19b6592fa"
USDT_ASSET = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
POOL_ID = "demo-btc-usdt"
DRAIN_TICKS = 120


@dataclass
class Progress:
    """What a live view shows while the demo runs."""

    simulated_s: int
    total_s: int
    orders: int
    fills: int
    open_orders: int
    mid: Decimal | None


@dataclass
class DemoReport:
    database: str
    seed: int
    mode: str  # "ccxt over loopback HTTP" or "in-process"
    faults: dict[str, float]
    simulated_seconds: int
    ticks: int
    skipped_ticks: int
    orders_placed: int
    venue_orders: int
    fills: int
    maker_volume: str
    taker_volume: str
    fees: dict[str, str]
    inventory_start: dict[str, str]
    inventory_end: dict[str, str]
    intents_by_status: dict[str, int]
    duplicate_orders: int
    open_orders_after_drain: int
    reconciliation: dict[str, Any]
    budget_breaches: int
    ledger_verified: bool
    pool_budget: dict[str, str]
    events: dict[str, int] = field(default_factory=dict)
    tick_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1_000_000


async def _seed_pool(app: App, ledger: Ledger, connector_id: str, account: str) -> None:
    store = PoolStore(app.db, app.time)
    existing = {p.pool_id for p in store.all()}
    if POOL_ID not in existing:
        store.create(
            POOL_ID,
            connector_id,
            account,
            SYMBOL,
            BTC_ASSET,
            USDT_ASSET,
            # Inside the background liquidity's 0.05 % half-spread: we are the touch.
            StrategyConfig(
                order_amount=Decimal("0.02"),
                order_levels=3,
                bid_spread=Decimal("0.0004"),
                ask_spread=Decimal("0.0004"),
                level_spread=Decimal("0.0005"),
                order_refresh_time_s=10,
                filled_order_delay_s=5,
            ),
        )
    pool = store.get(POOL_ID)
    # Balanced at the market price (60,000): inventory skew starts neutral.
    for name, btc, usdt in (("alice", "0.6", "36000"), ("bob", "0.4", "24000")):
        user = app.ids.derive_str("demo-user", name)
        await fund_pool(
            ledger,
            store,
            pool,
            user_id=user,
            order_id=app.ids.derive_str("demo-order", name),
            base_units=to_units_exact(Decimal(btc), MIXIN_PRECISION),
            quote_units=to_units_exact(Decimal(usdt), MIXIN_PRECISION),
            share_price=Decimal(60000),
            deposit_first=True,
        )


def _venue_balances(world: DemoWorld) -> dict[str, str]:
    return {
        asset: str(MONEY_CONTEXT.add(free, locked))
        for asset, (free, locked) in sorted(world.venue.balances("mm").items())
    }


async def _session(
    app: App,
    minutes: float,
    fast: bool,
    faults: FaultConfig,
    progress: Callable[[Progress], None] | None,
) -> DemoReport:
    world = await open_world(app.time, app.settings.seed, app.metrics, fast=fast, faults=faults)
    ledger = Ledger(app.db, app.time, app.metrics)
    await ledger.start()
    try:
        await _seed_pool(app, ledger, world.exchange_id, world.connector.account)
        inventory_start = _venue_balances(world)
        engine = await build_engine(
            db=app.db,
            time_source=app.time,
            metrics=app.metrics,
            rng=app.rng.child("engine"),
            ids=app.ids,
            clock=app.clock,
            ledger=ledger,
            pools=PoolStore(app.db, app.time).active(),
            connectors={(world.exchange_id, world.connector.account): world.connector},
            tracking=app.settings.tracking,
        )
        app.clock.register(app.outbox)
        total_s = round(minutes * 60)
        director = _Director(app, engine, world, total_s, progress)
        app.clock.register(director)
        await app.clock.run()
        while app.outbox.dispatch_once():  # a graceful stop delivers what the last tick wrote
            pass
        final = await next(iter(engine.trackers.values())).reconciler.run(app.time.time_ns())
        return _report(
            app, engine, world, ledger, faults, fast, total_s, inventory_start, final.__dict__
        )
    finally:
        await ledger.stop()
        await world.close()


class _Director(TickComponent):
    """Runs the demo's script on the clock: progress every 10 s, then stop quoting, wait for
    the drain (or give up after ``DRAIN_TICKS``) and stop the clock."""

    name = "demo"
    phase = Phase.JOBS

    def __init__(
        self,
        app: App,
        engine: Engine,
        world: DemoWorld,
        total_s: int,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self._app, self._engine, self._world = app, engine, world
        self._progress = progress
        self._start = app.time.time_ns()
        self._end = self._start + total_s * NS_PER_SECOND
        self._total_s = total_s
        self._draining_since: int | None = None

    async def on_tick(self, ts: int) -> None:
        elapsed = ts - self._start
        if self._progress is not None and elapsed % (10 * NS_PER_SECOND) < self._app.clock.tick_ns:
            self._progress(_progress(self._engine, self._world, elapsed, self._total_s))
        if ts < self._end:
            return
        if self._draining_since is None:
            self._engine.stop_quoting()
            self._draining_since = ts
            return
        drained = not self._engine.quoting and not self._engine.orders.open_orders(
            self._world.exchange_id, self._world.connector.account
        )
        if drained or ts - self._draining_since >= DRAIN_TICKS * self._app.clock.tick_ns:
            self._app.clock.request_stop()


def _progress(engine: Engine, world: DemoWorld, elapsed_ns: int, total_s: int) -> Progress:
    account = world.connector.account
    orders = engine.orders.orders(world.exchange_id, account)
    book = next(iter(engine.trackers.values())).books.book(SYMBOL)
    return Progress(
        simulated_s=elapsed_ns // NS_PER_SECOND,
        total_s=total_s,
        orders=len(orders),
        fills=len(engine.orders.fills(world.exchange_id, account)),
        open_orders=len(engine.orders.open_orders(world.exchange_id, account)),
        mid=None if book is None else book.mid(),
    )


def _report(
    app: App,
    engine: Engine,
    world: DemoWorld,
    ledger: Ledger,
    faults: FaultConfig,
    fast: bool,
    total_s: int,
    inventory_start: dict[str, str],
    reconciliation: dict[str, Any],
) -> DemoReport:
    exchange, account = world.exchange_id, world.connector.account
    fills = engine.orders.fills(exchange, account)
    maker = sum((f.quote_qty for f in fills if f.is_maker), Decimal(0))
    taker = sum((f.quote_qty for f in fills if not f.is_maker), Decimal(0))
    fees: dict[str, Decimal] = {}
    for fill in fills:
        fees[fill.fee_asset] = fees.get(fill.fee_asset, Decimal(0)) + fill.fee
    venue_orders = world.venue.engine.orders_of(account)
    by_client: dict[str, int] = {}
    for order in venue_orders:
        by_client[order.client_order_id] = by_client.get(order.client_order_id, 0) + 1
    with app.db.read() as conn:
        by_status = IntentStore.counts_by_status(conn)
        events = outbox_counts(conn)
    costs = list(app.clock.tick_cost_ns)
    budget = engine.budgets.locked(f"pool:{POOL_ID}")
    return DemoReport(
        database=app.db.describe(),
        seed=app.settings.seed,
        mode="in-process" if fast else "ccxt over loopback HTTP",
        faults={k: v for k, v in faults.as_dict().items() if v},
        simulated_seconds=total_s,
        ticks=app.clock.ticks,
        skipped_ticks=app.clock.skipped_ticks,
        orders_placed=len(engine.orders.orders(exchange, account)),
        venue_orders=len(venue_orders),
        fills=len(fills),
        maker_volume=str(maker),
        taker_volume=str(taker),
        fees={k: str(v) for k, v in sorted(fees.items())},
        inventory_start=inventory_start,
        inventory_end=_venue_balances(world),
        intents_by_status=dict(sorted(by_status.items())),
        duplicate_orders=sum(1 for n in by_client.values() if n > 1),
        open_orders_after_drain=len(engine.orders.open_orders(exchange, account)),
        reconciliation={
            "outcome": reconciliation["outcome"],
            "mismatches": sum(len(v) for v in reconciliation["problems"].values()),
            "found": reconciliation["found"],
            "did": reconciliation["did"],
        },
        budget_breaches=engine.manager.budget_breaches,
        ledger_verified=verify(app.db).ok,
        pool_budget={
            "BTC": str(Decimal(budget.base_units).scaleb(-MIXIN_PRECISION)),
            "USDT": str(Decimal(budget.quote_units).scaleb(-MIXIN_PRECISION)),
        },
        events={"written": sum(events.values()), **dict(sorted(events.items()))},
        tick_ms={"p50": _percentile(costs, 0.5), "p99": _percentile(costs, 0.99)},
    )


def run_demo(
    settings: Settings,
    minutes: float = 60.0,
    *,
    fast: bool = False,
    faults: FaultConfig | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> DemoReport:
    """Run the demo in virtual time on the configured database and return its report."""
    app = App(settings, virtual=True)
    try:
        app.migrate()
        return app.run(_session(app, minutes, fast, faults or FaultConfig(), progress))
    finally:
        app.close()
