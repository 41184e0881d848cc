"""Market data model shared by strategies, trackers and connectors: books, trading rules, fills,
orders, balances, stream events and the exchange error taxonomy."""

from hufimm.market.book import BookDiff, BookSnapshot, Level
from hufimm.market.errors import (
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    RejectReason,
)
from hufimm.market.events import (
    BalanceUpdate,
    BookMessage,
    FillEvent,
    OrderUpdate,
    StreamStatus,
    UserEvent,
)
from hufimm.market.orders import Balance, Order, OrderRequest, OrderStatus
from hufimm.market.types import FILL_EVENT, Fill, Side, TradingRules

__all__ = [
    "FILL_EVENT",
    "Balance",
    "BalanceUpdate",
    "BookDiff",
    "BookMessage",
    "BookSnapshot",
    "ExchangeOutcomeUnknown",
    "ExchangeRejected",
    "ExchangeRetryable",
    "Fill",
    "FillEvent",
    "Level",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderUpdate",
    "RejectReason",
    "Side",
    "StreamStatus",
    "TradingRules",
    "UserEvent",
]
