"""What the simulated venue publishes to its subscribers (immutable copies, venue-neutral).

The HTTP/WebSocket server renders these in Binance's wire format; the in-process connector turns
them into hufimm's own types.  Orders are copied at the moment of the event, so a later fill
never changes what an earlier event said.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hufimm.market import Side
from hufimm.sim.exchange.engine import SimOrder, SimTrade


@dataclass(frozen=True, slots=True)
class OrderReport:
    """An order's state at one instant."""

    symbol: str
    order_id: int
    client_order_id: str
    cancel_client_id: str
    side: Side
    type: str
    tif: str
    price: Decimal
    qty: Decimal
    executed: Decimal
    cum_quote: Decimal
    status: str
    created_ns: int
    updated_ns: int

    @classmethod
    def of(cls, order: SimOrder) -> OrderReport:
        return cls(
            symbol=order.symbol,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            cancel_client_id=order.cancel_client_id,
            side=order.side,
            type=order.type,
            tif=order.tif,
            price=order.price,
            qty=order.qty,
            executed=order.executed,
            cum_quote=order.cum_quote,
            status=order.status,
            created_ns=order.created_ns,
            updated_ns=order.updated_ns,
        )


@dataclass(frozen=True, slots=True)
class DepthEvent:
    symbol: str
    first_id: int
    last_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_ns: int


@dataclass(frozen=True, slots=True)
class TradeEvent:
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool
    ts_ns: int

    @classmethod
    def of(cls, trade: SimTrade) -> TradeEvent:
        return cls(
            trade.symbol, trade.trade_id, trade.price, trade.qty, trade.buyer_is_maker, trade.ts_ns
        )


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """One order event of one account (Binance ``executionReport``)."""

    account: str
    order: OrderReport
    exec_type: str  # NEW, TRADE, CANCELED, EXPIRED
    ts_ns: int
    trade_id: int = -1
    last_qty: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    last_quote: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    commission_asset: str | None = None
    is_maker: bool = False


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """New absolute balances of the assets an operation touched (``outboundAccountPosition``)."""

    account: str
    balances: tuple[tuple[str, Decimal, Decimal], ...]  # (asset, free, locked)
    ts_ns: int


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The venue closed this subscription (fault injection or shutdown)."""

    reason: str


StreamEvent = DepthEvent | TradeEvent | ExecutionEvent | AccountEvent | StreamClosed
