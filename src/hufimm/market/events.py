"""What a connector's streams deliver: book messages and user events, plus stream status."""

from __future__ import annotations

from dataclasses import dataclass, field

from hufimm.market.book import BookDiff, BookSnapshot
from hufimm.market.orders import Balance, Order
from hufimm.market.types import Fill


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A stream went down (what the reader holds may be stale) or came back up.

    After ``up=True`` on a book stream a fresh :class:`BookSnapshot` follows; after it on a user
    stream the reader should sweep REST (open orders, fills since its cursor, balances), since
    events during the outage are lost.
    """

    up: bool
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed state on the venue."""

    order: Order
    ts_ns: int


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One of our orders traded."""

    fill: Fill


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """New absolute balances of the assets that changed; ``ts_ns`` orders it against REST reads."""

    balances: dict[str, Balance] = field(default_factory=dict)
    ts_ns: int = 0


BookMessage = BookSnapshot | BookDiff | StreamStatus
UserEvent = OrderUpdate | FillEvent | BalanceUpdate | StreamStatus
