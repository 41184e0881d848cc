"""The same scenarios through every Connector: the ccxt connector against the simulated
exchange's HTTP/WebSocket server, and the in-process SimConnector.  Both run in virtual time
(the ccxt connector's clock, throttle and timeouts follow the injected TimeSource)."""

from __future__ import annotations

import pytest

from hufimm.core.timesource import VirtualTimeSource
from hufimm.exchange import Connector
from hufimm.sim.exchange import SimExchange
from tests.exchange.harness import CONNECTORS, book_scenario, make_venue, run_with, trading_scenario


@pytest.mark.parametrize("kind", CONNECTORS)
def test_trading_scenario(kind: str) -> None:
    run_with(kind, make_venue(VirtualTimeSource()), trading_scenario)


@pytest.mark.slow
@pytest.mark.parametrize("kind", CONNECTORS)
def test_book_follows_the_venue_across_thousands_of_diffs(kind: str) -> None:
    async def scenario(conn: Connector, venue: SimExchange) -> None:
        book = await book_scenario(conn, venue, diffs=2000, checkpoints=5)
        assert book.applied >= 2000
        assert book.gaps == 0

    run_with(kind, make_venue(VirtualTimeSource()), scenario)
