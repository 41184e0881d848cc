"""The order book tracker: one exact book per market, kept from a snapshot plus diffs.

Stream readers (one background task per market) only queue what the connector delivers; all
book changes happen in :meth:`BookTracker.on_tick` (phase TRACKERS), so a strategy reading a
book during its tick sees one consistent state.  The sequence rules are Binance's:

* a diff ending at or before the book's id is old news (dropped);
* a diff starting after ``id + 1`` means updates are missing.  It is parked for
  ``reorder_window_s`` in case the missing diff was merely reordered; if the hole is still there
  after that, it is a **gap**;
* a gap, a crossed book, a disconnect or silence beyond ``silence_s`` marks the book **stale**:
  :meth:`book` returns ``None`` and diffs are buffered until a fresh snapshot arrives (the
  stream's own after a reconnect, or one fetched over REST).  The first buffered diff kept must
  straddle the snapshot's id; a snapshot older than that — or older than diffs already seen —
  is fetched again.  Then the buffer is replayed and the book is live again.

Staleness, resyncs and message lag are metrics and part of :meth:`health`; every completed
resync is an outbox event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from hufimm.core.backoff import Backoff
from hufimm.core.clock import Health, HealthStatus, Phase, TickComponent
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.exchange import Connector
from hufimm.market import BookDiff, BookMessage, BookSnapshot, ExchangeRetryable, StreamStatus
from hufimm.market.orderbook import OrderBook
from hufimm.store.db import Database
from hufimm.store.outbox import append_event
from hufimm.tracking.events import BOOK_AGGREGATE, BOOK_RESYNC_EVENT
from hufimm.tracking.settings import BookTrackerSettings

_log = get_logger("tracking.books")


@dataclass(frozen=True, slots=True)
class _RestSnapshot:
    """A snapshot fetched over REST for a resync (not a stream message: no silence credit)."""

    snapshot: BookSnapshot


@dataclass(frozen=True, slots=True)
class BookStatus:
    symbol: str
    stale: bool
    reason: str
    stale_since_ns: int | None
    seq: int
    last_update_ns: int | None  # venue time of the last message applied
    resyncs: int
    lag_s: float | None  # venue time → applied, of the last diff
    buffered: int


def _scale_of(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 8


class _Market:
    """One market's book and its synchronisation state."""

    def __init__(self, symbol: str, scale: int, now: int) -> None:
        self.symbol = symbol
        self.book = OrderBook(symbol, scale)
        self.stale = True
        self.reason = "start"
        self.stale_since_ns: int | None = now
        self.stream_up = False
        self.buffer: list[BookDiff] = []
        self.parked: dict[int, BookDiff] = {}
        self.parked_since_ns: int | None = None
        self.max_seen_seq = 0
        self.last_message_ns = now  # tracker time of the last stream message
        self.last_update_ns: int | None = None
        self.lag_s: float | None = None
        self.resyncs = 0
        self.generation = 0
        self.reader: asyncio.Task[None] | None = None
        self.snapshot_task: asyncio.Task[None] | None = None


class BookTracker(TickComponent):
    """Order books of one connector's markets (see the module docstring)."""

    phase = Phase.TRACKERS

    def __init__(
        self,
        connector: Connector,
        symbols: list[str],
        time_source: TimeSource,
        metrics: Metrics,
        rng: SeededRng,
        settings: BookTrackerSettings | None = None,
        db: Database | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or f"books:{connector.exchange_id}"
        self._connector = connector
        self._symbols = list(dict.fromkeys(symbols))
        self._time = time_source
        self._rng = rng.child(self.name)
        self.settings = settings or BookTrackerSettings()
        self._db = db
        self._markets: dict[str, _Market] = {}
        self._queue: deque[tuple[str, int, BookMessage | _RestSnapshot]] = deque()
        self._fetches = itertools.count(1)
        exchange = connector.exchange_id
        self._m_stale = metrics.gauge(
            "tracking_book_stale", "1 while a book is stale", ["exchange", "symbol"]
        )
        self._m_resyncs = metrics.counter(
            "tracking_book_resyncs_total",
            "Books marked stale, by cause",
            ["exchange", "symbol", "cause"],
        )
        self._m_stale_s = metrics.histogram(
            "tracking_book_stale_seconds",
            "How long books stayed stale",
            ["exchange", "symbol"],
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self._m_lag = metrics.histogram(
            "tracking_book_message_lag_seconds",
            "Venue event time to diff applied",
            ["exchange", "symbol"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self._m_diffs = metrics.counter(
            "tracking_book_diffs_total", "Book diffs by outcome", ["exchange", "symbol", "outcome"]
        )
        self._labels = {s: (exchange, s) for s in self._symbols}

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        now = self._time.time_ns()
        for symbol in self._symbols:
            try:
                scale = _scale_of(self._connector.rules(symbol).tick_size)
            except KeyError:
                scale = 8
            market = self._markets[symbol] = _Market(symbol, scale, now)
            self._m_stale.labels(*self._labels[symbol]).set(1)
            self._start_reader(market)

    async def stop(self) -> None:
        tasks = []
        for market in self._markets.values():
            for task in (market.reader, market.snapshot_task):
                if task is not None:
                    task.cancel()
                    tasks.append(task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _start_reader(self, market: _Market) -> None:
        if market.reader is not None:
            market.reader.cancel()
        market.generation += 1
        market.last_message_ns = self._time.time_ns()
        market.stream_up = False
        market.reader = asyncio.ensure_future(self._read(market.symbol, market.generation))

    async def _read(self, symbol: str, generation: int) -> None:
        """Queue the connector's book messages; the connector reconnects, we only restart it
        if it fails outright."""
        backoff = Backoff(
            self.settings.resync_backoff_initial_s,
            self.settings.resync_backoff_max_s,
            self._rng.child(f"reader/{symbol}/{generation}"),
        )
        while True:
            stream = self._connector.watch_book(symbol)
            try:
                async for message in stream:
                    self._queue.append((symbol, generation, message))
                    backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("book_reader_failed", symbol=symbol, error=repr(exc))
                down = StreamStatus(False, f"reader failed: {exc!r}", self._time.time_ns())
                self._queue.append((symbol, generation, down))
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()
            await self._time.sleep(backoff.next_delay())

    # ------------------------------------------------------------------ public reads
    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def book(self, symbol: str) -> OrderBook | None:
        """The live book, or ``None`` while it is stale (never quote from a stale book).

        The object is updated in place by later ticks; copy what must outlive this tick.
        """
        market = self._markets.get(symbol)
        if market is None or market.stale:
            return None
        return market.book

    def is_stale(self, symbol: str) -> bool:
        market = self._markets.get(symbol)
        return market is None or market.stale

    def last_update_ns(self, symbol: str) -> int | None:
        market = self._markets.get(symbol)
        return None if market is None else market.last_update_ns

    def status(self, symbol: str) -> BookStatus:
        market = self._markets[symbol]
        return BookStatus(
            symbol=symbol,
            stale=market.stale,
            reason=market.reason,
            stale_since_ns=market.stale_since_ns,
            seq=market.book.seq,
            last_update_ns=market.last_update_ns,
            resyncs=market.resyncs,
            lag_s=market.lag_s,
            buffered=len(market.buffer) + len(market.parked),
        )

    def health(self) -> Health:
        details = {}
        stale = []
        for symbol, market in self._markets.items():
            details[symbol] = {
                "stale": market.stale,
                "reason": market.reason if market.stale else "",
                "seq": market.book.seq,
                "resyncs": market.resyncs,
                "lag_s": market.lag_s,
            }
            if market.stale:
                stale.append(f"{symbol}: {market.reason}")
        if stale:
            return Health(HealthStatus.DEGRADED, "stale books: " + "; ".join(stale), details)
        return Health(HealthStatus.OK, "", details)

    # ------------------------------------------------------------------ the tick
    async def on_tick(self, ts: int) -> None:
        now = self._time.time_ns()
        queue = self._queue
        while queue:
            symbol, generation, message = queue.popleft()
            market = self._markets[symbol]
            if generation != market.generation:
                continue  # from a reader we restarted
            if isinstance(message, _RestSnapshot):
                self._on_snapshot(market, message.snapshot, now)
                continue
            market.last_message_ns = now
            if isinstance(message, BookDiff):
                self._on_diff(market, message, now)
            elif isinstance(message, BookSnapshot):
                self._on_snapshot(market, message, now)
            else:
                self._on_status(market, message, now)
        for market in self._markets.values():
            self._check_parked(market, now)
            silent_ns = now - market.last_message_ns
            if silent_ns > self.settings.silence_s * NS_PER_SECOND:
                silent_s = silent_ns / NS_PER_SECOND
                self._go_stale(market, "silence", f"no message for {silent_s:.0f} s", now)
                self._start_reader(market)  # resubscribe: the in-band snapshot resyncs

    # ------------------------------------------------------------------ messages
    def _on_status(self, market: _Market, status: StreamStatus, now: int) -> None:
        market.stream_up = status.up
        if not status.up:
            self._go_stale(market, "disconnect", f"stream down: {status.reason}", now)
            market.buffer.clear()  # after the reconnect the stream starts over

    def _on_diff(self, market: _Market, diff: BookDiff, now: int) -> None:
        if diff.last_seq > market.max_seen_seq:
            market.max_seen_seq = diff.last_seq
        if market.stale:
            buffer = market.buffer
            buffer.append(diff)
            if len(buffer) > self.settings.buffer_limit:
                del buffer[: len(buffer) - self.settings.buffer_limit]
            return
        self._apply_live(market, diff, now)

    def _apply_live(self, market: _Market, diff: BookDiff, now: int) -> None:
        """Apply a diff to a live book, or drop it, or park it until its predecessor comes."""
        labels = self._labels[market.symbol]
        seq = market.book.seq
        if diff.last_seq <= seq:
            self._m_diffs.labels(*labels, "old").inc()
            return
        if diff.first_seq > seq + 1:
            market.parked[diff.first_seq] = diff
            if market.parked_since_ns is None:
                market.parked_since_ns = now
            self._m_diffs.labels(*labels, "parked").inc()
            return
        if not self._apply(market, diff, now):
            return
        # The parked diffs that now follow on, in order.
        parked = market.parked
        while parked and not market.stale:
            seq = market.book.seq
            for first in [f for f, d in parked.items() if d.last_seq <= seq]:
                del parked[first]
            follower = next((d for f, d in sorted(parked.items()) if f <= seq + 1), None)
            if follower is None:
                break
            del parked[follower.first_seq]
            self._apply(market, follower, now)
        if not parked:
            market.parked_since_ns = None

    def _apply(self, market: _Market, diff: BookDiff, now: int) -> bool:
        labels = self._labels[market.symbol]
        try:
            market.book.apply_diff(diff.last_seq, diff.bids, diff.asks)
        except ValueError as exc:  # a value the book cannot hold exactly: corrupt message
            self._go_stale(market, "corrupt", f"diff {diff.first_seq}-{diff.last_seq}: {exc}", now)
            self._request_snapshot(market)
            return False
        self._m_diffs.labels(*labels, "applied").inc()
        market.last_update_ns = diff.ts_ns
        lag = max(0.0, (now - diff.ts_ns) / NS_PER_SECOND)
        market.lag_s = lag
        self._m_lag.labels(*labels).observe(lag)
        if market.book.is_crossed():
            self._go_stale(market, "crossed", f"crossed after diff {diff.last_seq}", now)
            market.buffer.clear()
            self._request_snapshot(market)
            return False
        return True

    def _check_parked(self, market: _Market, now: int) -> None:
        if market.stale or market.parked_since_ns is None:
            return
        window_ns = self.settings.reorder_window_s * NS_PER_SECOND
        if now - market.parked_since_ns < window_ns:
            return
        first = min(market.parked)
        self._go_stale(
            market, "gap", f"expected update {market.book.seq + 1}, next held is {first}", now
        )
        self._request_snapshot(market)

    def _on_snapshot(self, market: _Market, snapshot: BookSnapshot, now: int) -> None:
        if not market.stream_up:
            return  # without a live stream a snapshot would freeze: wait for the reconnect
        if market.stale:
            pending = market.buffer
        elif snapshot.seq > market.book.seq:
            pending = list(market.parked.values())  # a newer truth: reload, keep what follows
        else:
            return  # we are already past it
        kept = sorted(
            {(d.first_seq, d.last_seq): d for d in pending if d.last_seq > snapshot.seq}.values(),
            key=lambda d: (d.first_seq, d.last_seq),
        )
        if kept:
            too_old = kept[0].first_seq > snapshot.seq + 1
        else:
            too_old = snapshot.seq < market.max_seen_seq
        if too_old:
            self._go_stale(market, "gap", f"snapshot {snapshot.seq} does not join the diffs", now)
        else:
            market.book.load_snapshot(snapshot.seq, snapshot.bids, snapshot.asks)
            if market.book.is_crossed():
                too_old = True
                self._go_stale(market, "crossed", f"snapshot {snapshot.seq} is crossed", now)
        if too_old:
            market.buffer = kept
            self._request_snapshot(market, delay=True)
            return
        market.buffer = []
        market.parked.clear()
        market.parked_since_ns = None
        market.last_update_ns = snapshot.ts_ns
        if market.stale:
            self._go_live(market, now)
        for diff in kept:
            if market.stale:
                market.buffer.append(diff)
            else:
                self._apply_live(market, diff, now)

    # ------------------------------------------------------------------ state changes
    def _go_stale(self, market: _Market, cause: str, reason: str, now: int) -> None:
        if market.parked:  # real diffs: they may still join the next snapshot
            market.buffer.extend(market.parked.values())
            market.parked.clear()
            market.parked_since_ns = None
        if market.stale:
            market.reason = reason
            return
        market.stale = True
        market.reason = reason
        market.stale_since_ns = now
        market.resyncs += 1
        labels = self._labels[market.symbol]
        self._m_stale.labels(*labels).set(1)
        self._m_resyncs.labels(*labels, cause).inc()
        _log.info("book_stale", symbol=market.symbol, cause=cause, reason=reason)

    def _go_live(self, market: _Market, now: int) -> None:
        labels = self._labels[market.symbol]
        since = market.stale_since_ns if market.stale_since_ns is not None else now
        stale_s = (now - since) / NS_PER_SECOND
        reason = market.reason
        market.stale = False
        market.stale_since_ns = None
        market.reason = ""
        self._m_stale.labels(*labels).set(0)
        self._m_stale_s.labels(*labels).observe(stale_s)
        if self._db is not None:
            with self._db.begin() as conn:
                append_event(
                    conn,
                    BOOK_AGGREGATE,
                    f"{self._connector.exchange_id}:{market.symbol}",
                    BOOK_RESYNC_EVENT,
                    {
                        "exchange": self._connector.exchange_id,
                        "symbol": market.symbol,
                        "reason": reason,
                        "stale_since_ns": since,
                        "synced_at_ns": now,
                        "stale_s": stale_s,
                        "seq": market.book.seq,
                    },
                    now,
                )

    def _request_snapshot(self, market: _Market, delay: bool = False) -> None:
        task = market.snapshot_task
        if task is not None and not task.done():
            return
        market.snapshot_task = asyncio.ensure_future(
            self._fetch_snapshot(market.symbol, market.generation, delay)
        )

    async def _fetch_snapshot(self, symbol: str, generation: int, delay: bool) -> None:
        backoff = Backoff(
            self.settings.resync_backoff_initial_s,
            self.settings.resync_backoff_max_s,
            self._rng.child(f"snapshot/{symbol}/{next(self._fetches)}"),
        )
        if delay:
            await self._time.sleep(backoff.next_delay())
        while True:
            try:
                snapshot = await self._connector.fetch_order_book(
                    symbol, self.settings.snapshot_limit
                )
            except asyncio.CancelledError:
                raise
            except ExchangeRetryable as exc:
                await self._time.sleep(max(backoff.next_delay(), exc.retry_after or 0.0))
                continue
            except Exception as exc:
                _log.warning("book_snapshot_failed", symbol=symbol, error=repr(exc))
                await self._time.sleep(backoff.next_delay())
                continue
            self._queue.append((symbol, generation, _RestSnapshot(snapshot)))
            return
