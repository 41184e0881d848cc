"""Everything that tracks one exchange account, built and registered on the clock together."""

from __future__ import annotations

from dataclasses import dataclass

from hufimm.core.clock import Clock
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.exchange import Connector
from hufimm.store.db import Database
from hufimm.tracking.balances import BalanceTracker
from hufimm.tracking.books import BookTracker
from hufimm.tracking.market_health import MarketHealth
from hufimm.tracking.orders import OrderTracker
from hufimm.tracking.reconcile import Reconciler
from hufimm.tracking.settings import TrackingSettings
from hufimm.tracking.sync import AccountSync
from hufimm.tracking.user_stream import UserStreamTracker


@dataclass
class AccountTrackers:
    """The book tracker, user-stream tracker, shadow order tracker and reconciler of one
    account (the order tracker may be shared between accounts: its rows carry both keys)."""

    connector: Connector
    symbols: list[str]
    books: BookTracker
    user_stream: UserStreamTracker
    orders: OrderTracker
    balances: BalanceTracker
    sync: AccountSync
    reconciler: Reconciler
    settings: TrackingSettings

    @classmethod
    def build(
        cls,
        connector: Connector,
        symbols: list[str],
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        rng: SeededRng,
        settings: TrackingSettings | None = None,
        orders: OrderTracker | None = None,
    ) -> AccountTrackers:
        settings = settings or TrackingSettings()
        orders = orders or OrderTracker(
            db, time_source, metrics, settings.lost, settings.client_id_prefix
        )
        balances = BalanceTracker(db, time_source, cache=True)  # this account's only writer
        sync = AccountSync(
            connector,
            orders,
            balances,
            db,
            time_source,
            settings.reconcile.fill_settle_s,
            settings.reconcile.fill_page_limit,
        )
        books = BookTracker(
            connector,
            symbols,
            time_source,
            metrics,
            rng,
            settings.book,
            db,
            name=f"books:{connector.exchange_id}:{connector.account}",
        )
        user_stream = UserStreamTracker(
            sync, symbols, db, time_source, metrics, rng, settings.user_stream
        )
        reconciler = Reconciler(sync, symbols, db, time_source, metrics, settings.reconcile)
        return cls(
            connector,
            list(symbols),
            books,
            user_stream,
            orders,
            balances,
            sync,
            reconciler,
            settings,
        )

    async def start(self) -> None:
        """Mark the markets unhealthy until reconciled (call before the clock starts)."""
        await self.reconciler.start()

    def register(self, clock: Clock) -> None:
        clock.register_all([self.books, self.user_stream, self.reconciler])

    def market_health(self, symbol: str) -> MarketHealth:
        return self.reconciler.market_health(symbol)
