"""The user-stream tracker: order updates, fills and balances of one exchange account.

A background reader queues what the connector's user stream delivers; :meth:`on_tick` (phase
TRACKERS) applies the queued events in one transaction.  While the stream is down, or silent
for longer than ``silence_s``, the tracker is in POLLING mode: a background poller sweeps REST
(fills since the persisted cursor, open orders, lookups by client id, balances) every
``poll_interval_s``.  Every time the stream comes (back) up a sweep runs too, because whatever
happened during the outage never reaches the stream.  The first event after that switches the
tracker back to STREAM mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from hufimm.core.backoff import Backoff
from hufimm.core.clock import Health, HealthStatus, Phase, TickComponent
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.market import BalanceUpdate, FillEvent, OrderUpdate, StreamStatus, UserEvent
from hufimm.store.db import Database
from hufimm.tracking.settings import UserStreamSettings
from hufimm.tracking.sync import AccountSync

_log = get_logger("tracking.user_stream")


class StreamMode(enum.StrEnum):
    STREAM = "stream"
    POLLING = "polling"


class UserStreamTracker(TickComponent):
    phase = Phase.TRACKERS

    def __init__(
        self,
        sync: AccountSync,
        symbols: list[str],
        db: Database,
        time_source: TimeSource,
        metrics: Metrics,
        rng: SeededRng,
        settings: UserStreamSettings | None = None,
        name: str | None = None,
    ) -> None:
        self._sync = sync
        self._connector = sync.connector
        self.exchange = sync.exchange
        self.account = sync.account
        self.name = name or f"user:{self.exchange}:{self.account}"
        self._symbols = list(dict.fromkeys(symbols))
        self._db = db
        self._time = time_source
        self._rng = rng.child(self.name)
        self.settings = settings or UserStreamSettings()
        self._queue: deque[UserEvent] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._sweep_wanted = asyncio.Event()
        self.stream_up = False
        self.mode = StreamMode.POLLING
        self.mode_reason = "not connected yet"
        self.last_event_ns: int | None = None
        self.sweeps = 0
        self.last_sweep_complete: bool | None = None
        labels = (self.exchange, self.account)
        self._m_mode = metrics.gauge(
            "tracking_user_stream_polling",
            "1 while the user stream is down or silent and REST polling stands in",
            ["exchange", "account"],
        ).labels(*labels)
        self._m_events = metrics.counter(
            "tracking_user_events_total", "User stream events applied", ["exchange", "kind"]
        )
        self._m_switches = metrics.counter(
            "tracking_user_stream_mode_changes_total",
            "Switches between stream and REST polling",
            ["exchange", "account", "mode"],
        )
        self._m_failed = metrics.counter(
            "tracking_user_events_dropped_total",
            "User events that could not be applied (the next sweep reads their truth)",
            ["exchange", "account"],
        ).labels(*labels)
        self._m_sweeps = metrics.counter(
            "tracking_user_sweeps_total", "REST sweeps", ["exchange", "account", "complete"]
        )
        self._m_mode.set(1)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._reader = asyncio.ensure_future(self._read())
        self._poller = asyncio.ensure_future(self._poll())

    async def stop(self) -> None:
        for task in (self._reader, self._poller):
            if task is not None:
                task.cancel()
        for task in (self._reader, self._poller):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self) -> None:
        backoff = Backoff(0.5, 30.0, self._rng.child("reader"))
        while True:
            stream = self._connector.watch_user(self._symbols)
            try:
                async for event in stream:
                    self._queue.append(event)
                    backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("user_reader_failed", account=self.account, error=repr(exc))
                self._queue.append(StreamStatus(False, f"reader failed: {exc!r}", 0))
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()
            await self._time.sleep(backoff.next_delay())

    async def _poll(self) -> None:
        """Sweep when asked (after a reconnect) and every ``poll_interval_s`` while polling."""
        interval = self.settings.poll_interval_s
        while True:
            # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event fires, and stop() would then wait forever.
            waiter = asyncio.ensure_future(self._sweep_wanted.wait())
            try:
                await asyncio.wait({waiter}, timeout=interval)
            finally:
                waiter.cancel()
            if not (self._sweep_wanted.is_set() or self.mode is StreamMode.POLLING):
                continue
            self._sweep_wanted.clear()
            try:
                result = await self._sync.sweep(self._symbols)
            except Exception as exc:  # a bug or the database: keep polling, say so
                _log.error("sweep_failed", account=self.account, error=repr(exc), exc_info=True)
                self.last_sweep_complete = False
                continue
            self.sweeps += 1
            self.last_sweep_complete = result.complete
            self._m_sweeps.labels(self.exchange, self.account, str(result.complete).lower()).inc()
            if not result.complete and self.mode is StreamMode.STREAM:
                await self._time.sleep(interval)
                self._sweep_wanted.set()  # the reconnect sweep must complete once

    def request_sweep(self) -> None:
        self._sweep_wanted.set()

    # ------------------------------------------------------------------ health
    def health(self) -> Health:
        details = {
            "mode": self.mode.value,
            "stream_up": self.stream_up,
            "last_event_ns": self.last_event_ns,
            "sweeps": self.sweeps,
            "last_sweep_complete": self.last_sweep_complete,
        }
        if self.mode is StreamMode.POLLING:
            return Health(HealthStatus.DEGRADED, f"REST polling: {self.mode_reason}", details)
        return Health(HealthStatus.OK, "", details)

    # ------------------------------------------------------------------ the tick
    async def on_tick(self, ts: int) -> None:
        now = self._time.time_ns()
        batch = list(self._queue)
        self._queue.clear()
        for event in batch:
            if isinstance(event, StreamStatus):
                self._on_status(event, now)
            else:
                self.last_event_ns = now
        events = [e for e in batch if not isinstance(e, StreamStatus)]
        if events:
            try:
                with self._db.begin() as conn:
                    for event in events:
                        self._apply(event, conn)
            except OperationalError:
                self._queue.extendleft(reversed(events))  # the database: retried next tick
                raise
            except Exception:
                self._apply_one_by_one(events)
        self._update_mode(now)

    def _apply_one_by_one(self, events: Sequence[UserEvent]) -> None:
        """A batch failed on its data: apply what can be applied, drop (and report) the rest —
        the next REST sweep reads the truth those events carried."""
        for event in events:
            try:
                with self._db.begin() as conn:
                    self._apply(event, conn)
            except OperationalError:
                raise
            except Exception as exc:
                self._m_failed.inc()
                _log.error("user_event_dropped", user_event=repr(event)[:300], error=repr(exc))
                self.request_sweep()

    def _apply(self, event: UserEvent, conn: Connection) -> None:
        orders, balances = self._sync.orders, self._sync.balances
        if isinstance(event, OrderUpdate):
            orders.apply_update(self.exchange, self.account, event, conn=conn)
            kind = "order"
        elif isinstance(event, FillEvent):
            orders.apply_fill(event.fill, source="stream", conn=conn)
            kind = "fill"
        elif isinstance(event, BalanceUpdate):
            balances.apply(
                self.exchange, self.account, event.balances, event.ts_ns, "stream", conn=conn
            )
            kind = "balance"
        else:
            return
        self._m_events.labels(self.exchange, kind).inc()

    def _on_status(self, status: StreamStatus, now: int) -> None:
        if status.up:
            self.stream_up = True
            self.last_event_ns = now
            self.request_sweep()  # what happened while it was down is only on REST
        else:
            self.stream_up = False
            self.mode_reason = f"stream down: {status.reason}"

    def _update_mode(self, now: int) -> None:
        silent = (
            self.last_event_ns is None
            or now - self.last_event_ns > self.settings.silence_s * NS_PER_SECOND
        )
        if not self.stream_up:
            mode = StreamMode.POLLING
        elif silent:
            mode = StreamMode.POLLING
            self.mode_reason = f"stream silent for more than {self.settings.silence_s:.0f} s"
        else:
            mode = StreamMode.STREAM
        if mode is not self.mode:
            _log.info(
                "user_stream_mode", account=self.account, mode=mode.value, why=self.mode_reason
            )
            self.mode = mode
            self._m_mode.set(1 if mode is StreamMode.POLLING else 0)
            self._m_switches.labels(self.exchange, self.account, mode.value).inc()
