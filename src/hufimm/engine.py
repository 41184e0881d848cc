"""The market-making engine: pools quoted on exchange accounts, assembled on one clock.

For every exchange account the engine builds the trackers (book, user stream, shadow orders,
reconciliation) and one execution worker; every active pool gets an executor in the executor
manager.  Per tick the clock runs them in phase order: trackers drain their streams, the
executors decide and persist intents, the workers send them, and scheduled jobs reconcile.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field

from hufimm.core.clock import Clock
from hufimm.core.ids import IdFactory
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.exchange import Connector
from hufimm.execution import ExecutionWorker
from hufimm.ledger import Ledger
from hufimm.market import Balance
from hufimm.market.types import TradingRules
from hufimm.pools import Pool, PoolStore
from hufimm.pools.budgets import PoolBudgets
from hufimm.store.db import Database
from hufimm.strategy.executor import Executor
from hufimm.strategy.intents import IntentStore
from hufimm.strategy.manager import ExecutorManager
from hufimm.tracking import AccountTrackers, BalanceTracker, OrderTracker, TrackingSettings


@dataclass
class Engine:
    """The running engine's parts, for the demo's report and for tests."""

    manager: ExecutorManager
    trackers: dict[tuple[str, str], AccountTrackers]
    workers: dict[tuple[str, str], ExecutionWorker]
    orders: OrderTracker
    intents: IntentStore
    budgets: PoolBudgets
    rules: dict[tuple[str, str], dict[str, TradingRules]] = field(default_factory=dict)

    def stop_quoting(self) -> None:
        """Every executor cancels its orders and reports drained (then it is removed)."""
        self.manager.stop_all()

    @property
    def quoting(self) -> bool:
        return bool(self.manager.executors)


class _AccountHoldings:
    """Venue balances for the pool budgets, read through each account's own balance tracker
    (its cached copy); an account the engine does not track is read from the database."""

    def __init__(
        self,
        db: Database,
        time_source: TimeSource,
        trackers: dict[tuple[str, str], AccountTrackers],
    ) -> None:
        self._trackers = trackers
        self._fallback = BalanceTracker(db, time_source)

    def balances(self, exchange: str, account: str) -> dict[str, Balance]:
        tracked = self._trackers.get((exchange, account))
        source = self._fallback if tracked is None else tracked.balances
        return source.balances(exchange, account)


async def build_engine(
    *,
    db: Database,
    time_source: TimeSource,
    metrics: Metrics,
    rng: SeededRng,
    ids: IdFactory,
    clock: Clock,
    ledger: Ledger,
    pools: list[Pool],
    connectors: dict[tuple[str, str], Connector],
    tracking: TrackingSettings,
    budget_refresh_s: float = 5.0,
) -> Engine:
    """Build and register the engine for ``pools``; connectors must be started already.

    Each pool's ``(exchange, account)`` must have a connector.  Markets stay unhealthy (no
    quotes) until the first reconciliation has compared the venue with what we recorded.
    """
    log = get_logger("engine")
    # The engine is the only writer of its orders' rows: its tracker keeps the live ones.
    orders = OrderTracker(
        db, time_source, metrics, tracking.lost, tracking.client_id_prefix, cache=True
    )
    intents = IntentStore(ids, tracking.client_id_prefix, cache=True)  # the only intent writer
    store = PoolStore(db, time_source)
    symbols: dict[tuple[str, str], list[str]] = defaultdict(list)
    for pool in pools:
        key = (pool.exchange, pool.account)
        if key not in connectors:
            raise KeyError(f"pool {pool.pool_id}: no connector for {key[0]}/{key[1]}")
        symbols[key].append(pool.symbol)
    trackers: dict[tuple[str, str], AccountTrackers] = {}
    workers: dict[tuple[str, str], ExecutionWorker] = {}
    rules: dict[tuple[str, str], dict[str, TradingRules]] = {}
    for key, markets in symbols.items():
        connector = connectors[key]
        rules[key] = await connector.load_markets()
        account = AccountTrackers.build(
            connector,
            markets,
            db,
            time_source,
            metrics,
            rng.child(f"tracking:{key}"),
            tracking,
            orders=orders,
        )
        await account.start()
        account.register(clock)
        trackers[key] = account
        worker = ExecutionWorker(
            db, time_source, metrics, connector, orders, intents, rng.child(f"execution:{key}")
        )
        clock.register(worker)
        workers[key] = worker
    if not trackers:
        raise ValueError("no pools to make markets for")
    budgets = PoolBudgets(
        ledger, store, _AccountHoldings(db, time_source, trackers), time_source, budget_refresh_s
    )
    manager = ExecutorManager(db, time_source, metrics, intents, budgets)
    for pool in pools:
        key = (pool.exchange, pool.account)
        account = trackers[key]
        config = pool.strategy.executor_config(
            pool.instance_id, pool.pool_id, pool.exchange, pool.account, pool.symbol
        )
        budgets.add(pool)
        manager.add(
            Executor(config),
            account.books,
            orders,
            functools.partial(account.market_health, pool.symbol),
            rules[key][pool.symbol],
        )
        log.info("pool_quoting", pool=pool.pool_id, market=f"{key[0]}/{key[1]}/{pool.symbol}")
    clock.register(manager)
    return Engine(manager, trackers, workers, orders, intents, budgets, rules)
