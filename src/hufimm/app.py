"""The composition root: builds the service's parts from settings.

Nothing else constructs time sources, random streams, id factories, metrics or databases; they
are made here once and handed down, which is what makes a run reproducible from its seed and
lets tests build as many independent apps as they need.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from hufimm.core.clock import Clock
from hufimm.core.ids import IdFactory
from hufimm.core.logs import configure_logging
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource, TimeSource, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.settings import Settings
from hufimm.store.db import Database
from hufimm.store.leases import LeaseManager
from hufimm.store.migrate import upgrade
from hufimm.store.outbox import OutboxDispatcher

T = TypeVar("T")


class App:
    """One instance of the service: its clock, storage and injected sources."""

    def __init__(
        self,
        settings: Settings,
        *,
        virtual: bool = False,
        time_source: TimeSource | None = None,
        configure_logs: bool = True,
    ) -> None:
        self.settings = settings
        self.time: TimeSource = time_source or (
            VirtualTimeSource() if virtual else RealTimeSource()
        )
        self.virtual = isinstance(self.time, VirtualTimeSource)
        if configure_logs:
            configure_logging(self.time, settings.log_format, settings.log_level)
        self.rng = SeededRng(settings.seed)
        self.ids = IdFactory(self.time, self.rng.child("ids"), settings.id_namespace)
        self.metrics = Metrics()
        self.db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        self.clock = Clock(self.time, self.metrics, tick_size_s=float(settings.tick_size))
        self.leases = LeaseManager(self.db, self.time, settings.instance_id)
        self.outbox = OutboxDispatcher(self.db, self.time, self.metrics)

    def migrate(self) -> list[str]:
        return upgrade(self.db)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on a loop that matches this app's time (virtual or real)."""
        if isinstance(self.time, VirtualTimeSource):
            return run_virtual(coro, self.time)
        return asyncio.run(coro)

    def close(self) -> None:
        self.db.dispose()


async def _serve(app: App, stop: asyncio.Event, drain_s: float) -> None:
    """The engine in real time until ``stop`` is set; then quotes are pulled and drained."""
    from hufimm.core.errors import ConfigError, HufimmError
    from hufimm.engine import build_engine
    from hufimm.exchange import CcxtConnector
    from hufimm.ledger import Ledger
    from hufimm.pools import PoolStore

    exchange = app.settings.exchange
    if exchange.api_key is None or exchange.secret is None:
        raise ConfigError("exchange.api_key", "an API key and secret are needed to trade")
    key = (exchange.exchange_id, exchange.account)
    pools = [p for p in PoolStore(app.db, app.time).active() if (p.exchange, p.account) == key]
    if not pools:
        raise ConfigError("pools", f"no active pool trades on {key[0]}/{key[1]}")
    connector = CcxtConnector(exchange, app.time, app.rng.child("ccxt"), metrics=app.metrics)
    try:
        await connector.start()
    except HufimmError as exc:
        await connector.close()
        raise type(exc)(
            f"exchange {exchange.exchange_id}/{exchange.account} unreachable: {exc}"
        ) from None
    ledger = Ledger(app.db, app.time, app.metrics)
    await ledger.start()
    try:
        engine = await build_engine(
            db=app.db,
            time_source=app.time,
            metrics=app.metrics,
            rng=app.rng.child("engine"),
            ids=app.ids,
            clock=app.clock,
            ledger=ledger,
            pools=pools,
            connectors={key: connector},
            tracking=app.settings.tracking,
        )
        app.clock.register(app.outbox)
        runner = asyncio.create_task(app.clock.run())
        await stop.wait()
        engine.stop_quoting()
        deadline = app.time.time_ns() + round(drain_s * 1e9)
        while engine.quoting and app.time.time_ns() < deadline and not runner.done():
            await app.time.sleep(app.clock.tick_ns / 1e9)
        app.clock.request_stop()
        await runner
    finally:
        await ledger.stop()
        await connector.close()


def run_engine(settings: Settings, drain_s: float = 30.0) -> None:
    """``hufimm run``: the service against the configured exchange, in real time, until a
    SIGINT or SIGTERM; then it cancels its orders (up to ``drain_s``) and stops."""
    import signal

    app = App(settings)
    try:
        app.migrate()

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await _serve(app, stop, drain_s)

        app.run(main())
    finally:
        app.close()
