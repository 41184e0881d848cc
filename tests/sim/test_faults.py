"""Fault injection: every category happens at its configured rate, as a consumer observes it."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import pytest

from hufimm.core.errors import InvalidInput
from hufimm.core.timesource import VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.market import (
    ExchangeOutcomeUnknown,
    ExchangeRetryable,
    OrderRequest,
    Side,
)
from hufimm.sim.exchange import FaultConfig, SimConnector, SimExchange
from hufimm.sim.exchange.engine import SimError
from hufimm.sim.exchange.events import StreamClosed, TradeEvent
from tests.exchange.harness import MM, SYMBOL, make_venue

RATE = 0.05


def within_rate(hits: int, trials: int, rate: float) -> bool:
    """Observed rate within 4.5 standard deviations of the configured one."""
    sigma = math.sqrt(rate * (1 - rate) / trials)
    return abs(hits / trials - rate) <= 4.5 * sigma


def test_fault_config_parsing() -> None:
    config = FaultConfig.parse("drop=0.01, dup=0.02,gap=0.001")
    assert (config.drop, config.dup, config.gap, config.timeout) == (0.01, 0.02, 0.001, 0.0)
    assert FaultConfig.parse(None) == FaultConfig()
    for bad in ("drop", "nope=0.1", "drop=x", "drop=1.5"):
        with pytest.raises(InvalidInput):
            FaultConfig.parse(bad)


def _event(i: int) -> TradeEvent:
    return TradeEvent(SYMBOL, i, Decimal(1), Decimal(1), False, i)


def _deliver(venue: SimExchange, n: int) -> list[int]:
    sub = venue.subscribe("trade", SYMBOL)
    for i in range(n):
        sub.deliver(_event(i))
        if sub.closed:
            break
    out = []
    while not sub.queue.empty():
        event = sub.queue.get_nowait()
        if isinstance(event, StreamClosed):
            out.append(-1)
            break
        assert isinstance(event, TradeEvent)
        out.append(event.trade_id)
    return out


@pytest.mark.parametrize("category", ["drop", "dup", "reorder"])
def test_stream_message_faults_happen_at_their_rate(category: str) -> None:
    venue = make_venue(VirtualTimeSource(), faults=FaultConfig(**{category: RATE}))
    n = 20_000
    received = _deliver(venue, n)
    if category == "drop":
        observed = n - len(received)
    elif category == "dup":
        observed = len(received) - len(set(received))
    else:
        observed = sum(1 for a, b in itertools.pairwise(received) if b < a)
    assert sorted(set(received)) == sorted(set(received) & set(range(n)))
    assert within_rate(observed, n, RATE), (category, observed)


def test_disconnects_happen_at_their_rate() -> None:
    venue = make_venue(VirtualTimeSource(), faults=FaultConfig(disconnect=RATE))
    lengths = []
    for _ in range(400):
        received = _deliver(venue, 100_000)
        assert received[-1] == -1  # the subscription was closed
        lengths.append(len(received) - 1)
    # Messages before a disconnect are geometric: mean (1 - r) / r.
    mean = sum(lengths) / len(lengths)
    assert abs(mean - (1 - RATE) / RATE) < 3.0


def test_sequence_gaps_and_stale_snapshots_happen_at_their_rate() -> None:
    time_source = VirtualTimeSource()
    venue = make_venue(time_source, faults=FaultConfig(gap=RATE, stale=0.2))

    async def main() -> tuple[int, int, int, int]:
        sub = venue.subscribe("depth", SYMBOL, faulty=False)
        await venue.start()
        await time_source.sleep(300)
        await venue.pause_market()
        await time_source.sleep(1)
        gaps = diffs = 0
        last = None
        while not sub.queue.empty():
            event = sub.queue.get_nowait()
            if last is not None:
                diffs += 1
                gaps += event.first_id != last + 1  # type: ignore[union-attr]
            last = event.last_id  # type: ignore[union-attr]
        conn = SimConnector(venue, MM.api_key)
        stale = 0
        for _ in range(1000):
            stale += (await conn.fetch_order_book(SYMBOL, 10)).seq < venue.engine.update_id(SYMBOL)
        await venue.stop()
        return gaps, diffs, stale, 1000

    gaps, diffs, stale, fetches = run_virtual(main(), time_source)
    assert diffs > 2000
    assert within_rate(gaps, diffs, RATE)
    assert within_rate(stale, fetches, 0.2)


def test_rest_faults_happen_at_their_rate_and_are_classified() -> None:
    time_source = VirtualTimeSource()
    faults = FaultConfig(timeout=0.1, error5xx=0.1, ratelimit=0.1)
    venue = make_venue(time_source, faults=faults, run_market=False)
    counts = {"unknown": 0, "retryable": 0, "rate_limited": 0, "ok": 0}

    async def main() -> None:
        await venue.start()
        conn = SimConnector(venue, MM.api_key)
        for i in range(2000):
            cid = f"r{i}"
            try:
                await conn.create_order(
                    OrderRequest(SYMBOL, Side.BUY, Decimal(1000), Decimal("0.01"), cid)
                )
            except ExchangeOutcomeUnknown:
                counts["unknown"] += 1
                assert venue.order(MM.name, SYMBOL, client_order_id=cid).status == "NEW"
            except ExchangeRetryable as exc:
                counts["rate_limited" if exc.rate_limited else "retryable"] += 1
                with pytest.raises(SimError, match="-2013"):
                    venue.order(MM.name, SYMBOL, client_order_id=cid)
            else:
                counts["ok"] += 1
            await time_source.sleep(1)  # stay under the weight limit: only injected 429s
        await venue.stop()

    run_virtual(main(), time_source)
    # Each call meets the ratelimit draw first, then 5xx, then (once executed) the timeout.
    assert within_rate(counts["rate_limited"], 2000, 0.1)
    assert within_rate(counts["retryable"], 2000 - counts["rate_limited"], 0.1)
    executed = 2000 - counts["rate_limited"] - counts["retryable"]
    assert within_rate(counts["unknown"], executed, 0.1)
    assert counts["ok"] + counts["unknown"] == len(venue.open_orders(MM.name, SYMBOL))
