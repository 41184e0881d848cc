"""The simulated exchange: matching engine, market, faults, in-process connector and a
Binance-spot-compatible HTTP + WebSocket server."""

from hufimm.sim.exchange.accounts import load_accounts, parse_accounts
from hufimm.sim.exchange.connector import SimConnector
from hufimm.sim.exchange.engine import FeeSchedule, MatchingEngine, SimError
from hufimm.sim.exchange.faults import FaultConfig, FaultInjector
from hufimm.sim.exchange.market import MarketSpec, default_spec
from hufimm.sim.exchange.server import SimExchangeServer
from hufimm.sim.exchange.venue import SimAccount, SimExchange, VenueConfig, VenueLimits
from hufimm.sim.exchange.world import build_exchange

__all__ = [
    "FaultConfig",
    "FaultInjector",
    "FeeSchedule",
    "MarketSpec",
    "MatchingEngine",
    "SimAccount",
    "SimConnector",
    "SimError",
    "SimExchange",
    "SimExchangeServer",
    "VenueConfig",
    "VenueLimits",
    "build_exchange",
    "default_spec",
    "load_accounts",
    "parse_accounts",
]
