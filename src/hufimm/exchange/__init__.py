"""Exchange connectivity: the Connector protocol, the ccxt connector and rate limiting.

The types a connector speaks (orders, book messages, balances, user events) and the error
taxonomy live in :mod:`hufimm.market`, shared with the simulated exchange.
"""

from hufimm.exchange.ccxt_connector import CcxtConnector
from hufimm.exchange.ccxt_errors import Operation, classify
from hufimm.exchange.client_ids import check_client_id, client_id_rule
from hufimm.exchange.connector import Connector
from hufimm.exchange.ratelimit import PoolSpec, Priority, RateLimiter
from hufimm.exchange.settings import ExchangeSettings, RateLimitPool

__all__ = [
    "CcxtConnector",
    "Connector",
    "ExchangeSettings",
    "Operation",
    "PoolSpec",
    "Priority",
    "RateLimitPool",
    "RateLimiter",
    "check_client_id",
    "classify",
    "client_id_rule",
]
