"""Pool shares: what an order's locked funds are worth, and its share-seconds in a window.

A reward for a campaign cycle ``[start, end)`` is split by each order's share-seconds inside the
window (DESIGN §6).  Both functions here are pure and exact: share values are integers of quote
units, and share-time is counted in share·nanoseconds so it stays an integer (dividing by 10^9
to show share-seconds is for people; allocation only needs the ratios).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from decimal import Decimal

from hufimm.ledger.outcomes import ShareEntry, ShareKind

#: Exact context for ``units * price``: prices are limited to 40 digits, amounts are far below
#: 10^150, so the product always fits and an inexact result would be a bug, not rounding.
_VALUE_CONTEXT = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_FLOOR,
    traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow],
)


def share_value(locked_base: int, locked_quote: int, price: Decimal) -> int:
    """Quote units the order's locked funds are worth: ``quote + floor(base * price)``."""
    base_value = _VALUE_CONTEXT.multiply(Decimal(locked_base), price)
    return locked_quote + int(base_value.to_integral_value(rounding=decimal.ROUND_FLOOR))


def share_ns(entries: Iterable[ShareEntry], start_ns: int, end_ns: int) -> dict[str, int]:
    """Each order's share-seconds inside ``[start_ns, end_ns)``, in share·nanoseconds.

    ``entries`` are one or more orders' share entries in ledger order (as the ledger returns
    them).  An order holds ``shares`` from its MINT's ``created_at`` until its BURN's; a mint
    with no burn yet holds until ``end_ns``.  Orders that held nothing inside the window are
    absent from the result.  Raises ``ValueError`` on a history the ledger cannot produce
    (burn without mint, mint over a mint, burn of another amount, time going backwards).
    """
    if end_ns < start_ns:
        raise ValueError(f"window ends before it starts: [{start_ns}, {end_ns})")
    open_mints: dict[str, ShareEntry] = {}
    last_time: dict[str, int] = {}
    weights: dict[str, int] = {}

    def hold(order_id: str, shares: int, since: int, until: int) -> None:
        overlap = min(until, end_ns) - max(since, start_ns)
        if overlap > 0:
            weights[order_id] = weights.get(order_id, 0) + shares * overlap

    for entry in entries:
        if entry.created_at < last_time.get(entry.order_id, entry.created_at):
            raise ValueError(f"share entries of order {entry.order_id} go back in time")
        last_time[entry.order_id] = entry.created_at
        mint = open_mints.get(entry.order_id)
        if entry.kind is ShareKind.MINT:
            if mint is not None:
                raise ValueError(f"order {entry.order_id} minted twice without a burn")
            open_mints[entry.order_id] = entry
        else:
            if mint is None:
                raise ValueError(f"order {entry.order_id} burned shares it never minted")
            if entry.shares != mint.shares:
                raise ValueError(f"order {entry.order_id} burned {entry.shares} of {mint.shares}")
            hold(entry.order_id, mint.shares, mint.created_at, entry.created_at)
            del open_mints[entry.order_id]
    for order_id, mint in open_mints.items():
        hold(order_id, mint.shares, mint.created_at, end_ns)
    return weights


def owners_of(entries: Iterable[ShareEntry]) -> Mapping[str, str]:
    """Order id → owner, for turning per-order weights into per-user ones."""
    return {entry.order_id: entry.owner for entry in entries}
