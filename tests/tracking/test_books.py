"""The book tracker's sequence rules, driven message by message: old and duplicated diffs are
dropped, reorders inside the window are absorbed, gaps / crossed books / disconnects / silence
mark the book stale and a resync (snapshot + buffered diffs) brings it back equal to the venue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy import select

from hufimm.core.clock import HealthStatus
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import BookSnapshot, Side, StreamStatus
from hufimm.store.db import Database
from hufimm.store.tables import outbox_events
from hufimm.tracking import BookTracker
from hufimm.tracking.events import BOOK_RESYNC_EVENT
from hufimm.tracking.settings import BookTrackerSettings
from tests.tracking.fakes import ScriptedBook, ScriptedConnector

SYM = "B/Q"
B, S = Side.BUY, Side.SELL


class Harness:
    def __init__(self, time_source: VirtualTimeSource, db: Database | None = None) -> None:
        self.time = time_source
        self.venue = ScriptedBook(SYM, time_source)
        self.conn = ScriptedConnector(self.venue)
        self.metrics = Metrics()
        settings = BookTrackerSettings(silence_s=10, reorder_window_s=1)
        self.tracker = BookTracker(
            self.conn,
            [SYM],
            time_source,
            self.metrics,
            SeededRng(3),
            settings,
            db,
        )

    async def tick(self, advance_s: float = 0.0) -> None:
        if advance_s:
            await asyncio.sleep(advance_s)  # virtual
        for _ in range(5):  # let the reader and snapshot tasks hand over their messages
            await asyncio.sleep(0)
        await self.tracker.on_tick(self.time.time_ns())

    def matches_venue(self) -> bool:
        book = self.tracker.book(SYM)
        assert book is not None, self.tracker.status(SYM)
        bids, asks = self.venue.levels()
        return book.seq == self.venue.seq and book.levels(B) == bids and book.levels(S) == asks

    def resyncs(self, cause: str) -> float:
        return self.metrics.value(
            "tracking_book_resyncs_total", {"exchange": "fake", "symbol": SYM, "cause": cause}
        )


def run(scenario: Callable[[Harness], Awaitable[None]], db: Database | None = None) -> None:
    time_source = VirtualTimeSource()

    async def main() -> None:
        harness = Harness(time_source, db)
        await harness.tracker.start()
        for _ in range(3):
            await asyncio.sleep(0)  # the reader subscribes
        try:
            await scenario(harness)
        finally:
            await harness.tracker.stop()

    run_virtual(main(), time_source)


def test_diffs_follow_the_snapshot_and_old_ones_are_dropped() -> None:
    async def scenario(h: Harness) -> None:
        await h.tick()
        assert h.tracker.is_stale(SYM) and h.tracker.book(SYM) is None
        assert h.tracker.health().status is HealthStatus.DEGRADED
        early = h.venue.change((B, "98", "3"))  # before the snapshot: must be dropped
        h.conn.connect()
        d1 = h.venue.change((B, "99.5", "2"), (S, "101", "0"))
        d2 = h.venue.change((S, "100.5", "4"))
        h.conn.push(early, d1, d1, d2, d1)  # duplicated and late copies too
        await h.tick()
        assert h.matches_venue()
        assert not h.tracker.is_stale(SYM) and h.tracker.health().ok
        assert h.tracker.last_update_ns(SYM) == d2.ts_ns
        assert h.tracker.status(SYM).resyncs == 0
        assert h.conn.fetches == 0

    run(scenario)


def test_reordered_diffs_within_the_window_are_absorbed() -> None:
    async def scenario(h: Harness) -> None:
        h.conn.connect()
        await h.tick()
        d1, d2, d3 = (h.venue.change((B, f"97.{i}", "1")) for i in range(3))
        h.conn.push(d2)
        await h.tick(0.5)
        # d2 waits for d1; the book is behind but exact at its id, and not stale.
        book = h.tracker.book(SYM)
        assert book is not None and book.seq == d1.first_seq - 1
        h.conn.push(d3, d1)
        await h.tick(0.4)
        assert h.matches_venue() and h.conn.fetches == 0 and h.resyncs("gap") == 0

    run(scenario)


def test_a_gap_marks_the_book_stale_and_a_resync_replays_the_buffer(db: Database) -> None:
    async def scenario(h: Harness) -> None:
        h.conn.connect()
        await h.tick()
        lost = h.venue.change((B, "98", "7"))  # the stream drops it
        after = h.venue.change((S, "102", "5"))
        h.conn.push(after)
        await h.tick(0.5)
        assert not h.tracker.is_stale(SYM)
        # The REST snapshot is taken while the venue moves on: the diff after it is replayed.
        h.conn.on_fetch = lambda: h.conn.push(h.venue.change((B, "96", "1")))
        await h.tick(1.1)  # the window passes: gap
        assert h.tracker.is_stale(SYM) and h.tracker.book(SYM) is None
        assert "expected update" in h.tracker.status(SYM).reason
        assert h.resyncs("gap") == 1 and h.tracker.health().status is HealthStatus.DEGRADED
        await h.tick(0.1)
        assert h.conn.fetches == 1 and h.matches_venue()
        assert h.tracker.status(SYM).resyncs == 1
        assert lost.last_seq < h.tracker.status(SYM).seq

    run(scenario, db)
    with db.read() as conn:
        reasons = [
            r.payload
            for r in conn.execute(
                select(outbox_events.c.payload).where(
                    outbox_events.c.event_type == BOOK_RESYNC_EVENT
                )
            )
        ]
    assert len(reasons) == 2  # the first synchronisation, then the resync after the gap
    assert "start" in reasons[0] and "expected update" in reasons[1]


def test_a_snapshot_that_does_not_join_the_buffered_diffs_is_fetched_again() -> None:
    async def scenario(h: Harness) -> None:
        old = h.venue.snapshot()
        h.conn.connect()
        await h.tick()
        h.venue.change((B, "98", "7"))  # dropped
        h.conn.push(h.venue.change((S, "102", "5")))
        h.conn.next_snapshots = [old]  # a stale REST snapshot (a lagging replica)
        await h.tick()
        await h.tick(1.1)
        assert h.tracker.is_stale(SYM)
        for _ in range(3):
            await h.tick(1)
        assert h.conn.fetches == 2 and h.matches_venue()

    run(scenario)


def test_a_crossed_book_is_a_fault() -> None:
    async def scenario(h: Harness) -> None:
        h.conn.connect()
        await h.tick()
        bad = h.venue.change((B, "102", "1"))  # a bid above the best ask: the data is wrong
        h.venue.bids.pop(Decimal("102"))  # the venue's truth never crossed
        h.conn.push(bad)
        await h.tick()
        assert h.tracker.is_stale(SYM) and h.resyncs("crossed") == 1
        h.venue.seq += 1  # the venue moved on: its snapshot is past the bad diff
        await h.tick(0.1)
        assert h.matches_venue()

    run(scenario)


def test_disconnect_and_silence_mark_the_book_stale_until_a_fresh_snapshot() -> None:
    async def scenario(h: Harness) -> None:
        h.conn.connect()
        await h.tick()
        h.conn.push(StreamStatus(False, "socket closed", h.time.time_ns()))
        await h.tick()
        assert h.tracker.is_stale(SYM) and h.resyncs("disconnect") == 1
        missed = h.venue.change((B, "98", "2"))
        h.conn.push(missed)  # diffs without a snapshot stay buffered, the book stays stale
        await h.tick()
        assert h.tracker.is_stale(SYM)
        h.conn.connect()
        await h.tick()
        assert h.matches_venue()
        # Silence: no message for longer than silence_s → stale, and the tracker resubscribes.
        await h.tick(11)
        assert h.tracker.is_stale(SYM) and h.resyncs("silence") == 1
        await h.tick()
        assert h.conn.subscriptions == 2
        h.venue.change((S, "103", "0"))
        h.conn.connect()  # the new subscription's snapshot
        await h.tick()
        assert h.matches_venue()
        assert h.tracker.status(SYM).resyncs == 2

    run(scenario)


def test_a_snapshot_without_a_live_stream_is_not_trusted() -> None:
    async def scenario(h: Harness) -> None:
        h.conn.push(h.venue.snapshot())  # no "up" first: the stream is not flowing
        await h.tick()
        assert h.tracker.is_stale(SYM)
        h.conn.connect()
        await h.tick()
        assert h.matches_venue()
        newer: BookSnapshot = h.venue.snapshot()
        assert newer.seq == h.tracker.status(SYM).seq

    run(scenario)
