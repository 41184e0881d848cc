"""Faults of the simulated venue, seen through each connector: streams that lose, repeat and
reorder diffs, skip update ids and disconnect still yield the venue's book (after resyncs), and
failed order calls are classified right — above all, a timeout after acceptance is UNKNOWN."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hufimm.core.timesource import VirtualTimeSource
from hufimm.exchange import Connector
from hufimm.market import (
    ExchangeOutcomeUnknown,
    ExchangeRetryable,
    OrderRequest,
    OrderStatus,
    Side,
)
from hufimm.sim.exchange import FaultConfig, SimExchange
from hufimm.sim.exchange.engine import SimError
from tests.exchange.harness import CONNECTORS, MM, SYMBOL, book_scenario, make_venue, run_with

STREAM_FAULTS = FaultConfig(drop=0.02, dup=0.02, reorder=0.02, gap=0.01, disconnect=0.002)


@pytest.mark.slow
@pytest.mark.parametrize("kind", CONNECTORS)
def test_book_survives_stream_faults(kind: str) -> None:
    venue = make_venue(VirtualTimeSource(), faults=STREAM_FAULTS)

    async def scenario(conn: Connector, venue: SimExchange) -> None:
        book = await book_scenario(conn, venue, diffs=1200, checkpoints=4)
        # The faults happened and were noticed (gaps, outages), yet every checkpoint matched.
        assert book.snapshots > 1
        counters = venue.faults.observed()
        assert all(counters[c].hits > 0 for c in ("drop", "dup", "reorder", "gap"))

    run_with(kind, venue, scenario)


@pytest.mark.parametrize("kind", CONNECTORS)
def test_order_faults_are_classified(kind: str) -> None:
    venue = make_venue(
        VirtualTimeSource(), faults=FaultConfig(timeout=0.25, error5xx=0.2, ratelimit=0.1)
    )
    outcomes: dict[str, int] = {"ok": 0, "unknown": 0, "retryable": 0, "rate_limited": 0}
    waits: list[float | None] = []  # a 429 says how long to wait

    async def scenario(conn: Connector, venue: SimExchange) -> None:
        book = venue.engine.depth(SYMBOL, 1)
        price = book[1][0][0] - Decimal(100)
        for i in range(60):
            cid = f"hmm-f-{i}"
            request = OrderRequest(SYMBOL, Side.BUY, price, Decimal("0.001"), cid)
            try:
                await conn.create_order(request)
            except ExchangeOutcomeUnknown:
                # Accepted, answered "unknown": the venue really holds the order.
                assert venue.order(MM.name, SYMBOL, client_order_id=cid).status == "NEW"
                outcomes["unknown"] += 1
            except ExchangeRetryable as exc:
                # Refused before acting: the venue never saw it.
                with pytest.raises(SimError, match="-2013"):
                    venue.order(MM.name, SYMBOL, client_order_id=cid)
                outcomes["rate_limited" if exc.rate_limited else "retryable"] += 1
                waits.append(exc.retry_after if exc.rate_limited else 1.0)
            else:
                assert venue.order(MM.name, SYMBOL, client_order_id=cid).status == "NEW"
                outcomes["ok"] += 1
        for order in venue.open_orders(MM.name, SYMBOL):
            try:
                canceled = await conn.cancel_order(SYMBOL, order.client_order_id)
                assert canceled.status is OrderStatus.CANCELED
            except ExchangeOutcomeUnknown:
                assert (
                    venue.order(MM.name, SYMBOL, client_order_id=order.client_order_id).status
                    == "CANCELED"
                )
                outcomes["unknown"] += 1
            except ExchangeRetryable:
                assert (
                    venue.order(MM.name, SYMBOL, client_order_id=order.client_order_id).status
                    == "NEW"
                )

    run_with(kind, venue, scenario)
    assert all(count > 0 for count in outcomes.values()), outcomes
    assert all(wait is not None and wait > 0 for wait in waits)
