"""The demo's simulated world: a seeded exchange with the service's trading account.

By default the service reaches the venue exactly as in production, through the ccxt connector
speaking Binance's API to the simulated server on loopback; ``fast`` connects in-process
instead (same venue, no HTTP), for quick runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import SecretStr

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.exchange import CcxtConnector, Connector, ExchangeSettings
from hufimm.sim.exchange import (
    FaultConfig,
    SimAccount,
    SimConnector,
    SimExchange,
    SimExchangeServer,
    build_exchange,
)
from hufimm.sim.exchange.market import default_spec

SYMBOL = "BTC/USDT"
ACCOUNT = SimAccount(
    "mm", "demo-key", "demo-secret", {"BTC": Decimal("2"), "USDT": Decimal("200000")}
)


@dataclass
class DemoWorld:
    venue: SimExchange
    connector: Connector
    server: SimExchangeServer | None

    @property
    def exchange_id(self) -> str:
        return self.connector.exchange_id

    async def close(self) -> None:
        await self.connector.close()
        if self.server is not None:
            await self.server.stop()
        await self.venue.stop()


async def open_world(
    time_source: TimeSource, seed: int, metrics: Metrics, *, fast: bool, faults: FaultConfig
) -> DemoWorld:
    """Start the venue (and its server unless ``fast``) and a started connector to it."""
    # A lively market: the price moves every second and a taker arrives about every second.
    spec = default_spec(SYMBOL, price_interval_s=1.0, taker_rate_per_s=1.0)
    venue = build_exchange(time_source, seed, [spec], [ACCOUNT], faults=faults)
    await venue.start()
    server: SimExchangeServer | None = None
    connector: Connector
    if fast:
        connector = SimConnector(venue, ACCOUNT.api_key)
    else:
        server = SimExchangeServer(venue)
        await server.start()
        connector = CcxtConnector(
            ExchangeSettings(
                exchange_id="binance",
                account=ACCOUNT.name,
                api_key=SecretStr(ACCOUNT.api_key),
                secret=SecretStr(ACCOUNT.secret),
                rest_url=server.base_url,
                ws_url=f"ws://{server.host}:{server.port}",
            ),
            time_source,
            SeededRng(seed).child("ccxt"),
            metrics=metrics,
        )
    await connector.start()
    return DemoWorld(venue, connector, server)
