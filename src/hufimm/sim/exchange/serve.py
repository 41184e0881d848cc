"""``hufimm sim exchange``: serve a simulated exchange until interrupted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from hufimm.core.errors import InvalidInput
from hufimm.core.timesource import RealTimeSource
from hufimm.sim.exchange.accounts import load_accounts
from hufimm.sim.exchange.faults import FaultConfig
from hufimm.sim.exchange.server import SimExchangeServer
from hufimm.sim.exchange.world import build_exchange


def parse_symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    for symbol in symbols:
        base, sep, quote = symbol.partition("/")
        if not sep or not base or not quote:
            raise InvalidInput(f"--symbols: expected BASE/QUOTE, got {symbol!r}")
    if not symbols:
        raise InvalidInput("--symbols: at least one symbol is needed")
    return symbols


async def serve_exchange(
    port: int,
    symbols: list[str],
    seed: int,
    accounts_file: Path,
    faults: FaultConfig,
    announce: Callable[[str], None],
    host: str = "127.0.0.1",
    stop: asyncio.Event | None = None,
) -> None:
    """Serve in real time on ``host:port`` until ``stop`` is set (or forever)."""
    venue = build_exchange(RealTimeSource(), seed, symbols, load_accounts(accounts_file), faults)
    server = SimExchangeServer(venue, host=host, port=port)
    await venue.start()
    try:
        await server.start()
        announce(server.base_url)
        await (stop or asyncio.Event()).wait()
    finally:
        await server.stop()
        await venue.stop()
