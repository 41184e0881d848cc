"""Normalized tracker events written to the outbox, and their aggregates.

Fills (``FILL_EVENT``, payload ``Fill.to_payload()``) are ordered per market account, so the HuFi
score estimator sees one market's trades in the order they were recorded.  Order state changes
are ordered per order; book resyncs per book.
"""

from __future__ import annotations

from typing import Any

from hufimm.market import FILL_EVENT
from hufimm.tracking.model import TrackedOrder

ORDER_STATE_EVENT = "exchange.order_state"
BOOK_RESYNC_EVENT = "exchange.book_resync"
MARKET_HEALTH_EVENT = "exchange.market_health"

FILLS_AGGREGATE = "exchange_fills"
ORDER_AGGREGATE = "exchange_order"
BOOK_AGGREGATE = "order_book"
MARKET_AGGREGATE = "exchange_market"

__all__ = [
    "BOOK_AGGREGATE",
    "BOOK_RESYNC_EVENT",
    "FILLS_AGGREGATE",
    "FILL_EVENT",
    "MARKET_AGGREGATE",
    "MARKET_HEALTH_EVENT",
    "ORDER_AGGREGATE",
    "ORDER_STATE_EVENT",
    "market_key",
    "order_state_payload",
]


def market_key(exchange: str, account: str, symbol: str) -> str:
    return f"{exchange}:{account}:{symbol}"


def order_state_payload(order: TrackedOrder, previous: str | None) -> dict[str, Any]:
    """JSON-safe state of an order after a status change (decimals as text)."""
    return {
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "intent_id": order.intent_id,
        "exchange": order.exchange,
        "account": order.account,
        "symbol": order.symbol,
        "side": order.side.value,
        "price": str(order.price),
        "qty": str(order.qty),
        "status": order.status.value,
        "previous_status": previous,
        "filled_qty": str(order.filled_qty),
        "filled_quote": str(order.filled_quote),
        "reason": order.reason,
        "ts_ns": order.updated_at,
    }
