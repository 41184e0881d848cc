"""Through unmodified ccxt (our ccxt connector) against the Binance-compatible server: the
server skips depth ids, drops, duplicates and reorders diffs and cuts connections; ccxt raises
its InvalidNonce/ChecksumError on a gap, the connector reports the stream down, and the tracker
holds the book stale until ccxt's fresh snapshot — never serving a wrong book."""

from __future__ import annotations

import pytest

from hufimm.core.clock import Clock, Phase, TickComponent
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.exchange import CcxtConnector
from hufimm.market import Side
from hufimm.sim.exchange import FaultConfig, SimExchange
from hufimm.tracking import BookTracker
from hufimm.tracking.settings import BookTrackerSettings
from tests.exchange.harness import connector_settings, make_venue, retrying, serving
from tests.tracking.world import SYMBOL, BookChecker, DepthHistory


class PauseAt(TickComponent):
    phase = Phase.JOBS
    name = "pause"

    def __init__(self, venue: SimExchange, at: int) -> None:
        self.venue, self.at, self.done = venue, at, False

    async def on_tick(self, ts: int) -> None:
        if ts >= self.at and not self.done:
            self.done = True
            self.venue.faults.config = FaultConfig()
            await self.venue.pause_market()


@pytest.mark.slow
def test_book_tracker_recovers_from_gaps_through_ccxt() -> None:
    time_source = VirtualTimeSource()
    faults = FaultConfig(gap=0.02, drop=0.005, dup=0.01, reorder=0.005, disconnect=0.002)
    venue = make_venue(time_source, seed=23, faults=faults)
    history = DepthHistory(venue)
    metrics = Metrics()
    start = time_source.time_ns()
    end = start + 240 * NS_PER_SECOND

    async def main() -> tuple[BookTracker, BookChecker]:
        async with serving(venue) as server:
            conn = CcxtConnector(connector_settings(server), time_source, SeededRng(5))
            await retrying(venue, conn.start)
            try:
                books = BookTracker(
                    conn,
                    [SYMBOL],
                    time_source,
                    metrics,
                    SeededRng(5),
                    BookTrackerSettings(silence_s=10),
                )
                checker = BookChecker(books, history)
                clock = Clock(time_source, metrics, tick_size_s=0.5)
                clock.register_all([books, checker, PauseAt(venue, end - 10 * NS_PER_SECOND)])
                await clock.run(until_ns=end)
                book = books._markets[SYMBOL].book
                seq, bids, asks = venue.engine.depth(SYMBOL)
                assert not books.is_stale(SYMBOL)
                assert (book.seq, book.levels(Side.BUY), book.levels(Side.SELL)) == (
                    seq,
                    bids,
                    asks,
                )
            finally:
                await conn.close()
        return books, checker

    books, checker = run_virtual(main(), time_source)
    assert venue.faults.observed()["gap"].hits > 5
    resyncs = metrics.value(
        "tracking_book_resyncs_total",
        {"exchange": "binance", "symbol": SYMBOL, "cause": "disconnect"},
    )
    assert resyncs >= 5  # ccxt's gap errors (and the cut connections) came through as outages
    assert checker.mismatches == []
    assert checker.checks > 200
    assert books.status(SYMBOL).resyncs >= resyncs
