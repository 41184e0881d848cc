"""The shadow tracker's vocabulary: order statuses, the monotonic transition rule, and the
read models handed to the execution worker and the strategies.

Statuses are ordered.  An observation moves an order forward or not at all, so a late REST
answer saying OPEN never undoes a FILLED the stream reported first::

    PENDING_SUBMIT → UNKNOWN → OPEN → PARTIALLY_FILLED → PENDING_CANCEL → terminal
    (terminal: FILLED / CANCELED / EXPIRED / REJECTED / LOST)

PENDING_CANCEL outranks the open states because a venue report of "still open" does not mean
our cancel failed, only that it has not landed yet.  LOST is the one terminal status that is our
inference rather than the venue's word: venue evidence of the order revives it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from hufimm.core.money import MONEY_CONTEXT
from hufimm.market import OrderStatus, Side


class TrackedStatus(enum.StrEnum):
    PENDING_SUBMIT = "PENDING_SUBMIT"  # persisted, maybe not sent yet
    UNKNOWN = "UNKNOWN"  # sent; the answer was lost or ambiguous
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"  # we asked to cancel; the venue has not confirmed
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    LOST = "LOST"  # repeatedly, definitively not found: it never reached the venue

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return _RANK[self] >= _TERMINAL_RANK

    @property
    def is_live(self) -> bool:
        """The venue may hold (or come to hold) this order: its quantity is committed."""
        return not self.is_terminal


_TERMINAL_RANK = 5
_RANK = {
    TrackedStatus.PENDING_SUBMIT: 0,
    TrackedStatus.UNKNOWN: 1,
    TrackedStatus.OPEN: 2,
    TrackedStatus.PARTIALLY_FILLED: 3,
    TrackedStatus.PENDING_CANCEL: 4,
    TrackedStatus.FILLED: _TERMINAL_RANK,
    TrackedStatus.CANCELED: _TERMINAL_RANK,
    TrackedStatus.EXPIRED: _TERMINAL_RANK,
    TrackedStatus.REJECTED: _TERMINAL_RANK,
    TrackedStatus.LOST: _TERMINAL_RANK,
}

LIVE_STATUSES = tuple(s for s in TrackedStatus if s.is_live)

#: What a venue status means for the tracker.
VENUE_STATUS = {
    OrderStatus.NEW: TrackedStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED: TrackedStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL: TrackedStatus.PENDING_CANCEL,
    OrderStatus.FILLED: TrackedStatus.FILLED,
    OrderStatus.CANCELED: TrackedStatus.CANCELED,
    OrderStatus.REJECTED: TrackedStatus.REJECTED,
    OrderStatus.EXPIRED: TrackedStatus.EXPIRED,
}


def advance(
    current: TrackedStatus, observed: TrackedStatus, current_qty: Decimal, observed_qty: Decimal
) -> TrackedStatus:
    """The status after a venue observation; never a step backwards.

    ``*_qty`` are cumulative filled quantities: an observation that knows of fewer fills than
    we do is older than what we have, so it cannot move the status at all.
    """
    if observed_qty < current_qty:
        return current
    if current is TrackedStatus.LOST:
        return observed  # our inference yields to the venue's word
    if current.is_terminal:
        return current
    if observed.rank > current.rank:
        return observed
    return current


@dataclass(frozen=True, slots=True)
class TrackedOrder:
    """One order as the shadow tracker knows it."""

    client_order_id: str
    exchange: str
    account: str
    symbol: str
    exchange_order_id: str | None
    intent_id: str | None
    origin: str  # "intent" (placed by us through the write-first API) or "adopted"
    side: Side
    price: Decimal
    qty: Decimal
    post_only: bool
    status: TrackedStatus
    filled_qty: Decimal  # cumulative, as the venue reported it (or as our fills prove)
    filled_quote: Decimal
    fills_qty: Decimal  # sum of the fills recorded for this order
    fills_quote: Decimal
    fees: dict[str, Decimal]
    reason: str | None
    not_found_count: int
    first_not_found_at: int | None
    cancel_requested_at: int | None
    created_at: int
    updated_at: int
    terminal_at: int | None

    @property
    def remaining_qty(self) -> Decimal:
        return MONEY_CONTEXT.subtract(self.qty, self.filled_qty)

    @property
    def missing_fill_qty(self) -> Decimal:
        """Quantity the venue says traded that no recorded fill explains yet."""
        return MONEY_CONTEXT.subtract(self.filled_qty, self.fills_qty)


@dataclass(frozen=True, slots=True)
class Exposure:
    """What live orders of one market still commit (and may still trade).

    ``base`` is the quantity offered by live sells, ``quote`` the price x quantity bid by live
    buys.  Pending, unknown, open, partially filled and pending-cancel orders all count; an order
    that may be lost keeps counting until it is declared LOST.
    """

    base: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    orders: int = 0
    by_status: dict[TrackedStatus, int] = field(default_factory=dict)
