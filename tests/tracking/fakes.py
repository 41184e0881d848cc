"""Hand-driven stand-ins for the book tracker's unit tests: a book whose every change is one
update id, and a connector whose stream and REST snapshots the test scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from hufimm.core.timesource import TimeSource
from hufimm.market import BookDiff, BookMessage, BookSnapshot, Side, StreamStatus, TradingRules


class ScriptedBook:
    def __init__(self, symbol: str, time_source: TimeSource) -> None:
        self.symbol = symbol
        self._time = time_source
        self.seq = 100
        self.bids: dict[Decimal, Decimal] = {Decimal(99 - i): Decimal(1) for i in range(5)}
        self.asks: dict[Decimal, Decimal] = {Decimal(101 + i): Decimal(1) for i in range(5)}

    def change(self, *levels: tuple[Side, str, str]) -> BookDiff:
        """One diff covering one update id per level (quantity "0" removes the level)."""
        first = self.seq + 1
        bids, asks = [], []
        for side, price, qty in levels:
            book, out = (self.bids, bids) if side is Side.BUY else (self.asks, asks)
            p, q = Decimal(price), Decimal(qty)
            if q == 0:
                book.pop(p, None)
            else:
                book[p] = q
            out.append((p, q))
            self.seq += 1
        return BookDiff(
            self.symbol, first, self.seq, tuple(bids), tuple(asks), self._time.time_ns()
        )

    def snapshot(self) -> BookSnapshot:
        return BookSnapshot(
            self.symbol,
            self.seq,
            tuple(sorted(self.bids.items(), reverse=True)),
            tuple(sorted(self.asks.items())),
            self._time.time_ns(),
        )

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


class ScriptedConnector:
    """Only what the book tracker uses: ``rules``, ``watch_book`` and ``fetch_order_book``."""

    exchange_id = "fake"
    account = "a"

    def __init__(self, book: ScriptedBook) -> None:
        self.book = book
        self.subscriptions = 0
        self.fetches = 0
        self.next_snapshots: list[BookSnapshot] = []
        self.on_fetch: Callable[[], None] | None = None
        self._streams: list[asyncio.Queue[BookMessage]] = []

    def rules(self, symbol: str) -> TradingRules:
        return TradingRules(symbol, "B", "Q", Decimal("0.01"), Decimal("0.001"))

    def push(self, *messages: BookMessage) -> None:
        """Deliver to the newest subscription."""
        for message in messages:
            self._streams[-1].put_nowait(message)

    def connect(self) -> None:
        self.push(StreamStatus(True, "subscribed", 0), self.book.snapshot())

    async def watch_book(self, symbol: str, limit: int | None = None) -> AsyncIterator[BookMessage]:
        queue: asyncio.Queue[BookMessage] = asyncio.Queue()
        self._streams.append(queue)
        self.subscriptions += 1
        while True:
            yield await queue.get()

    async def fetch_order_book(self, symbol: str, limit: int = 100) -> BookSnapshot:
        self.fetches += 1
        if self.on_fetch is not None:
            self.on_fetch()
        if self.next_snapshots:
            return self.next_snapshots.pop(0)
        return self.book.snapshot()
