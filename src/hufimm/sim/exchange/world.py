"""Building a simulated exchange from a few choices (symbols, seed, accounts, faults)."""

from __future__ import annotations

from collections.abc import Iterable

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.sim.exchange.faults import FaultConfig
from hufimm.sim.exchange.market import MarketSpec, default_spec
from hufimm.sim.exchange.venue import SimAccount, SimExchange, VenueConfig


def build_exchange(
    time_source: TimeSource,
    seed: int,
    symbols: Iterable[str | MarketSpec] = ("BTC/USDT",),
    accounts: Iterable[SimAccount] = (),
    faults: FaultConfig | None = None,
    **config: object,
) -> SimExchange:
    """A venue with default market specs for plain symbol names and the given accounts."""
    specs = [s if isinstance(s, MarketSpec) else default_spec(s) for s in symbols]
    venue_config = VenueConfig(markets=specs, faults=faults or FaultConfig(), **config)  # type: ignore[arg-type]
    venue = SimExchange(venue_config, time_source, SeededRng(seed).child("sim.exchange"))
    for account in accounts:
        venue.add_account(account)
    return venue
