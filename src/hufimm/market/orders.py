"""Orders and balances as a connector reports them (venue-neutral, exact decimals)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from hufimm.core.money import MONEY_CONTEXT
from hufimm.market.types import Side


class OrderStatus(enum.StrEnum):
    """A venue order's state; the first three are open, the rest terminal."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order to place.  ``client_order_id`` is ours and must be valid for the venue."""

    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    client_order_id: str
    post_only: bool = False


@dataclass(frozen=True, slots=True)
class Order:
    """A venue order as last reported.  ``filled_qty`` is cumulative: order updates by it."""

    symbol: str
    order_id: str
    client_order_id: str | None
    side: Side
    price: Decimal
    qty: Decimal
    filled_qty: Decimal
    filled_quote: Decimal
    status: OrderStatus
    post_only: bool
    created_ns: int | None
    updated_ns: int | None

    @property
    def remaining_qty(self) -> Decimal:
        return MONEY_CONTEXT.subtract(self.qty, self.filled_qty)


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return MONEY_CONTEXT.add(self.free, self.locked)
