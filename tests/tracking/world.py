"""The pieces the tracker integration tests share: a record of the venue's book at every update
id, a small order driver standing in for the execution worker, a connector that can suffer a
DNS-style outage, a book checker component, and the final comparisons with the venue."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hufimm.core.clock import Phase, TickComponent
from hufimm.core.rng import SeededRng
from hufimm.exchange import Connector
from hufimm.market import (
    FILL_EVENT,
    BookMessage,
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    OrderRequest,
    RejectReason,
    Side,
    StreamStatus,
    UserEvent,
)
from hufimm.sim.exchange import SimExchange
from hufimm.sim.exchange.engine import SimError, SimOrder, SimTrade
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from hufimm.tracking import BookTracker, OrderTracker, TrackedStatus

SYMBOL = "BTC/USDT"


# --------------------------------------------------------------------------- venue book history
class DepthHistory:
    """Records every book change of the venue with its update id (install before the venue
    starts), so a tracker's book can be compared with the venue's book *at the tracker's id*:
    the only comparison that holds at every instant, since the stream always lags a little."""

    def __init__(self, venue: SimExchange, symbol: str = SYMBOL) -> None:
        self._venue = venue
        self._symbol = symbol
        self._inner = venue.engine.listener
        venue.engine.listener = self
        self.changes: list[tuple[int, Side, Decimal, Decimal]] = []
        self._cursor = 0
        self.seq = 0
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    # The engine listener protocol: record, then forward to the venue.
    def on_depth(self, symbol: str, side: Side, price: Decimal, qty: Decimal) -> None:
        if symbol == self._symbol:
            self.changes.append((self._venue.engine.update_id(symbol), side, price, qty))
        self._inner.on_depth(symbol, side, price, qty)

    def on_order(self, order: SimOrder, exec_type: str, trade: SimTrade | None) -> None:
        self._inner.on_order(order, exec_type, trade)

    def on_trade(self, trade: SimTrade) -> None:
        self._inner.on_trade(trade)

    def on_balances(self, account: str, assets: set[str]) -> None:
        self._inner.on_balances(account, assets)

    def levels_at(
        self, seq: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The venue's book after update ``seq`` (ids only move forward between calls)."""
        assert seq >= self.seq, f"tracker went back from {self.seq} to {seq}"
        changes = self.changes
        while self._cursor < len(changes) and changes[self._cursor][0] <= seq:
            _, side, price, qty = changes[self._cursor]
            book = self.bids if side is Side.BUY else self.asks
            if qty == 0:
                book.pop(price, None)
            else:
                book[price] = qty
            self._cursor += 1
        self.seq = seq
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


class BookChecker(TickComponent):
    """After the trackers drained (phase STRATEGY): a book that is not stale must equal the
    venue's book at the book's update id.  Also measures stale time."""

    phase = Phase.STRATEGY

    def __init__(self, books: BookTracker, history: DepthHistory, symbol: str = SYMBOL) -> None:
        self.name = "check-book"
        self._books = books
        self._history = history
        self._symbol = symbol
        self.checks = 0
        self.stale_ticks = 0
        self.last_stale_ts: int | None = None
        self.mismatches: list[str] = []

    async def on_tick(self, ts: int) -> None:
        book = self._books.book(self._symbol)
        if book is None:
            self.stale_ticks += 1
            self.last_stale_ts = ts
            return
        bids, asks = self._history.levels_at(book.seq)
        ours = (book.levels(Side.BUY), book.levels(Side.SELL))
        if ours != (bids, asks):
            self.mismatches.append(f"at {ts}: book {book.seq} differs from the venue's")
        self.checks += 1


# --------------------------------------------------------------------------- the order driver
class OrderDriver(TickComponent):
    """Stands in for the execution worker: each tick it may place an order near the top of the
    tracked book or cancel one, always writing first through the shadow tracker.

    ``skip_send_rate`` simulates a crash between persisting an order and sending it: the order
    never reaches the venue and must end LOST (a true loss)."""

    phase = Phase.EXECUTION

    def __init__(
        self,
        connector: Connector,
        orders: OrderTracker,
        books: BookTracker,
        db: Database,
        rng: SeededRng,
        name: str = "d",
        prefix: str = "hm",
        symbol: str = SYMBOL,
        skip_send_rate: float = 0.0,
        max_live: int = 8,
    ) -> None:
        self.name = f"driver-{name}"
        self._conn = connector
        self._orders = orders
        self._books = books
        self._db = db
        self._rng = rng.child(self.name)
        self._prefix = f"{prefix}{name}"
        self._symbol = symbol
        self._skip_send = skip_send_rate
        self._max_live = max_live
        self.placing = True
        self.cancel_all = False
        existing = [
            o
            for o in orders.orders(connector.exchange_id, connector.account, symbol)
            if o.client_order_id.startswith(self._prefix)
        ]
        self._next = len(existing)  # a restarted driver never reuses a client id
        self.outcomes: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    async def on_tick(self, ts: int) -> None:
        live = self._orders.open_orders(self._conn.exchange_id, self._conn.account, self._symbol)
        cancellable = [o for o in live if o.status is not TrackedStatus.PENDING_CANCEL]
        if self.cancel_all:
            for order in cancellable:
                await self.cancel(order.client_order_id)
            return
        if cancellable and (len(live) >= self._max_live or self._rng.chance(0.3)):
            await self.cancel(self._rng.choice(cancellable).client_order_id)
        if self.placing and len(live) < self._max_live and self._rng.chance(0.7):
            await self.place()

    async def place(self) -> None:
        book = self._books.book(self._symbol)
        if book is None:
            return  # never quote from a stale book
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return
        rules = self._conn.rules(self._symbol)
        side = Side.BUY if self._rng.chance(0.5) else Side.SELL
        ticks = rules.tick_size * self._rng.randint(-2, 6)  # some cross, most rest near the top
        price = bid[0] - ticks if side is Side.BUY else ask[0] + ticks
        qty = rules.step_size * self._rng.randint(20, 300)
        cid = f"{self._prefix}{self._next:06d}"
        self._next += 1
        with self._db.begin() as conn:
            self._orders.record_pending(
                conn,
                f"intent-{cid}",
                cid,
                self._conn.exchange_id,
                self._conn.account,
                self._symbol,
                side,
                price,
                qty,
            )
        if self._rng.chance(self._skip_send):
            self._count("never_sent")
            return
        try:
            ack = await self._conn.create_order(OrderRequest(self._symbol, side, price, qty, cid))
        except ExchangeOutcomeUnknown as exc:
            self._orders.mark_unknown(cid, str(exc))
            self._count("unknown")
        except ExchangeRetryable as exc:
            self._orders.mark_rejected(cid, f"not sent: {exc}")
            self._count("retryable")
        except ExchangeRejected as exc:
            if exc.reason is RejectReason.DUPLICATE_CLIENT_ID:
                self._orders.mark_unknown(cid, str(exc))
            else:
                self._orders.mark_rejected(cid, exc.reason.value)
            self._count(f"rejected:{exc.reason.value}")
        else:
            self._orders.apply_order(self._conn.exchange_id, self._conn.account, ack)
            self._count("placed")

    async def cancel(self, client_order_id: str) -> None:
        self._orders.request_cancel(client_order_id)
        try:
            result = await self._conn.cancel_order(self._symbol, client_order_id)
        except (ExchangeRejected, ExchangeOutcomeUnknown, ExchangeRetryable) as exc:
            # Not open, or no answer: reconciliation resolves it (and cancels again if needed).
            self._count(f"cancel:{type(exc).__name__}")
            return
        self._orders.apply_order(self._conn.exchange_id, self._conn.account, result)
        self._count("cancelled")


# --------------------------------------------------------------------------- a DNS-style outage
class OutageConnector:
    """Wraps a connector; while ``down`` every REST call fails like a name-resolution error
    (retryable: nothing reached the venue) and the streams report themselves down."""

    def __init__(self, inner: Connector) -> None:
        self._inner = inner
        self.exchange_id = inner.exchange_id
        self.account = inner.account
        self.down = False
        self._up = asyncio.Event()
        self._up.set()
        self._went_down = asyncio.Event()
        self.refused = 0

    def set_down(self, down: bool) -> None:
        self.down = down
        if down:
            self._up.clear()
            self._went_down.set()
        else:
            self._went_down.clear()
            self._up.set()

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._inner, name)
        if name in ("watch_book", "watch_user", "rules") or not asyncio.iscoroutinefunction(inner):
            return inner

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.refused += 1
                raise ExchangeRetryable(f"{name}: [Errno -3] Temporary failure in name resolution")
            return await inner(*args, **kwargs)

        return call

    def rules(self, symbol: str) -> Any:
        return self._inner.rules(symbol)

    async def _guarded(self, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Pass messages through until the outage begins; then report down and end."""
        pending: asyncio.Task[Any] | None = None
        try:
            while True:
                if self.down:
                    return
                pending = asyncio.ensure_future(stream.__anext__())
                went_down = asyncio.ensure_future(self._went_down.wait())
                done, _ = await asyncio.wait(
                    {pending, went_down}, return_when=asyncio.FIRST_COMPLETED
                )
                went_down.cancel()
                if pending in done:
                    yield pending.result()
                    pending = None
                else:
                    return
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def _outage_aware(self, open_stream: Any, *args: Any) -> AsyncIterator[Any]:
        while True:
            if self.down:
                yield StreamStatus(False, "name resolution failed", 0)
                await self._up.wait()
                continue
            inner = open_stream(*args)
            try:
                async for message in self._guarded(inner):
                    yield message
            finally:
                with contextlib.suppress(Exception):
                    await inner.aclose()
            if self.down:
                yield StreamStatus(False, "connection lost: name resolution failed", 0)
                await self._up.wait()

    def watch_book(self, symbol: str, limit: int | None = None) -> AsyncIterator[BookMessage]:
        return self._outage_aware(self._inner.watch_book, symbol, limit)

    def watch_user(self, symbols: list[str] | None = None) -> AsyncIterator[UserEvent]:
        return self._outage_aware(self._inner.watch_user, symbols)


# --------------------------------------------------------------------------- final comparisons
_VENUE_STATUS = {
    "NEW": TrackedStatus.OPEN,
    "PARTIALLY_FILLED": TrackedStatus.PARTIALLY_FILLED,
    "FILLED": TrackedStatus.FILLED,
    "CANCELED": TrackedStatus.CANCELED,
    "EXPIRED": TrackedStatus.EXPIRED,
}


def venue_orders(venue: SimExchange, account: str, prefix: str) -> Iterator[Any]:
    """Every order of ``account`` carrying our prefix that the venue ever accepted."""
    for order in venue.engine._orders.values():  # the test may look inside the venue
        if order.account == account and order.client_order_id.startswith(prefix):
            yield order


def compare_with_venue(
    orders: OrderTracker, venue: SimExchange, exchange: str, account: str, prefix: str = "hm"
) -> dict[str, int]:
    """Assert every order's final state and filled quantity match the venue, and that nothing
    the venue holds was declared LOST; returns the tracked statuses counted."""
    tracked = {o.client_order_id: o for o in orders.orders(exchange, account)}
    on_venue = {o.client_order_id: o for o in venue_orders(venue, account, prefix)}
    problems = []
    for cid, order in on_venue.items():
        mine = tracked.get(cid)
        if mine is None:
            problems.append(f"{cid} is on the venue but not tracked")
            continue
        expected = _VENUE_STATUS[order.status]
        if (mine.status, mine.filled_qty) != (expected, order.executed):
            problems.append(
                f"{cid}: tracked {mine.status.value} {mine.filled_qty}, "
                f"venue {order.status} {order.executed}"
            )
        if mine.fills_qty != order.executed:
            problems.append(f"{cid}: fills explain {mine.fills_qty} of {order.executed}")
    for cid, mine in tracked.items():
        if cid in on_venue:
            continue
        if mine.status not in (TrackedStatus.LOST, TrackedStatus.REJECTED):
            problems.append(f"{cid}: tracked {mine.status.value} but the venue never had it")
    assert not problems, problems[:10]
    counts: dict[str, int] = {}
    for mine in tracked.values():
        counts[mine.status.value] = counts.get(mine.status.value, 0) + 1
    return counts


def compare_fills(
    orders: OrderTracker, db: Database, venue: SimExchange, exchange: str, account: str
) -> int:
    """Every trade of ours recorded exactly once, with exactly one FILL_EVENT each."""
    expected = {
        (str(row.trade.trade_id), str(row.order.order_id))
        for row in venue.engine.account_trades(account, SYMBOL)
    }
    recorded = [(f.trade_id, f.order_id) for f in orders.fills(exchange, account, SYMBOL)]
    assert len(recorded) == len(set(recorded))
    assert set(recorded) == expected, (len(recorded), len(expected))
    with db.read() as conn:
        payloads = [
            json.loads(p)
            for p in conn.execute(
                select(outbox_events.c.payload).where(outbox_events.c.event_type == FILL_EVENT)
            ).scalars()
        ]
    events = [(p["trade_id"], p["order_id"]) for p in payloads if p["account"] == account]
    assert sorted(events) == sorted(recorded)
    return len(recorded)


def venue_holds(venue: SimExchange, account: str, client_order_id: str) -> bool:
    try:
        venue.order(account, SYMBOL, client_order_id=client_order_id)
    except SimError:
        return False
    return True
