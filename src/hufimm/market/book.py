"""Order book messages: snapshots and diffs carrying the venue's update ids."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: One price level: (price, quantity); quantity 0 in a diff deletes the level.
Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full book; ``seq`` is the venue's last applied update id (Binance ``lastUpdateId``)."""

    symbol: str
    seq: int
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]  # best first
    ts_ns: int


@dataclass(frozen=True, slots=True)
class BookDiff:
    """Absolute quantities of the levels changed by update ids ``first_seq..last_seq``.

    It applies to a book at ``seq`` when ``first_seq <= seq + 1 <= last_seq`` (diffs ending at or
    before ``seq`` are old news); ``first_seq > seq + 1`` means updates were lost: resynchronise.
    """

    symbol: str
    first_seq: int
    last_seq: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ns: int
