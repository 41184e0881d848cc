"""The market vocabulary every layer shares: sides, trading rules and fills.

Connectors translate venue formats into these types; trackers, strategies and the HuFi score
estimator consume them.  All prices and quantities are exact ``Decimal`` values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hufimm.core.money import MONEY_CONTEXT, Rounding, quantize_to_step, to_decimal

#: Outbox event type of a normalized fill of one of our orders.
FILL_EVENT = "exchange.fill"


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True, slots=True)
class TradingRules:
    """A market's filters (Binance names in brackets); zero disables a limit."""

    symbol: str  # unified "BASE/QUOTE"
    base: str
    quote: str
    tick_size: Decimal  # [PRICE_FILTER.tickSize]
    step_size: Decimal  # [LOT_SIZE.stepSize]
    min_qty: Decimal = Decimal(0)  # [LOT_SIZE.minQty]
    max_qty: Decimal = Decimal(0)  # [LOT_SIZE.maxQty]
    min_price: Decimal = Decimal(0)  # [PRICE_FILTER.minPrice]
    max_price: Decimal = Decimal(0)  # [PRICE_FILTER.maxPrice]
    min_notional: Decimal = Decimal(0)  # [NOTIONAL.minNotional]

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        """Bids round down, asks round up: rounding never makes a quote more aggressive."""
        rounding = Rounding.FLOOR if side is Side.BUY else Rounding.CEILING
        return quantize_to_step(price, self.tick_size, rounding)

    def round_qty(self, qty: Decimal) -> Decimal:
        """Sizes round down: never more than the budget allowed."""
        return quantize_to_step(qty, self.step_size, Rounding.FLOOR)

    def violation(self, price: Decimal, qty: Decimal) -> str | None:
        """The name of the first filter ``(price, qty)`` fails, or ``None`` if it passes."""
        if price <= 0 or (self.min_price and price < self.min_price):
            return "PRICE_FILTER"
        if self.max_price and price > self.max_price:
            return "PRICE_FILTER"
        if MONEY_CONTEXT.remainder(price, self.tick_size) != 0:
            return "PRICE_FILTER"
        if qty <= 0 or (self.min_qty and qty < self.min_qty):
            return "LOT_SIZE"
        if self.max_qty and qty > self.max_qty:
            return "LOT_SIZE"
        if MONEY_CONTEXT.remainder(qty, self.step_size) != 0:
            return "LOT_SIZE"
        if self.min_notional and MONEY_CONTEXT.multiply(price, qty) < self.min_notional:
            return "NOTIONAL"
        return None


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade of one of our orders, as the venue reported it."""

    exchange: str
    account: str
    symbol: str
    trade_id: str
    order_id: str  # the venue's order id
    client_order_id: str | None
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal  # price * qty as the venue computed it (HuFi scores on this "cost")
    fee: Decimal
    fee_asset: str
    is_maker: bool
    ts_ns: int  # venue trade time

    @property
    def key(self) -> tuple[str, str, str]:
        """Fills are unique per (exchange, symbol, trade id)."""
        return (self.exchange, self.symbol, self.trade_id)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form for the outbox (decimals as strings, never floats)."""
        return {
            "exchange": self.exchange,
            "account": self.account,
            "symbol": self.symbol,
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "side": self.side.value,
            "price": str(self.price),
            "qty": str(self.qty),
            "quote_qty": str(self.quote_qty),
            "fee": str(self.fee),
            "fee_asset": self.fee_asset,
            "is_maker": self.is_maker,
            "ts_ns": self.ts_ns,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Fill:
        return cls(
            exchange=str(data["exchange"]),
            account=str(data["account"]),
            symbol=str(data["symbol"]),
            trade_id=str(data["trade_id"]),
            order_id=str(data["order_id"]),
            client_order_id=data.get("client_order_id"),
            side=Side(data["side"]),
            price=to_decimal(data["price"]),
            qty=to_decimal(data["qty"]),
            quote_qty=to_decimal(data["quote_qty"]),
            fee=to_decimal(data["fee"]),
            fee_asset=str(data["fee_asset"]),
            is_maker=bool(data["is_maker"]),
            ts_ns=int(data["ts_ns"]),
        )
