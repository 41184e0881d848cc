"""``hufimm sim hufi``: the simulated Campaign Launcher and Recording Oracle on loopback.

Registered on the ``sim`` command group as ``sim_app.command("hufi")(sim_hufi.hufi)``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from hufimm.core.errors import InvalidInput
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import RealTimeSource
from hufimm.sim.hufi import (
    ENROLMENT_PERMISSIONS,
    HufiWorld,
    TradeBook,
    default_campaigns,
    load_campaigns,
    serve_hufi,
    sim_address,
)
from hufimm.sim.hufi.oracle import OracleConfig

DEMO_ACCOUNT = "demo"
DEMO_API_KEY = "demo-key"
DEMO_SECRET = "demo-secret"


def build_world(seed: int, campaigns_file: Path | None) -> HufiWorld:
    """A world on the wall clock with a read-only demo key on every simulated CEX."""
    time = RealTimeSource()
    exchanges = OracleConfig().supported_exchanges
    book = TradeBook(exchanges)
    for exchange in exchanges:
        book.add_account(exchange, DEMO_ACCOUNT, eth_address=sim_address("demo-deposit", exchange))
        book.issue_key(exchange, DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET, ENROLMENT_PERMISSIONS)
    world = HufiWorld(time, SeededRng(seed).child("sim-hufi"), book)
    now = time.time_ns()
    if campaigns_file is None:
        world.add_campaigns(default_campaigns(now, world.defaults))
    else:
        try:
            world.add_campaigns(load_campaigns(campaigns_file, world.defaults, now))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    return world


def hufi(
    port: Annotated[
        int, typer.Option(help="Launcher port; the oracle gets port+1 (0: two free ports).")
    ] = 0,
    campaigns: Annotated[
        Path | None,
        typer.Option("--campaigns", help="JSON list of campaigns (launcher shape) to serve."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of nonces, tokens and ids.")] = 1,
) -> None:
    """Serve the simulated HuFi launcher and oracle on 127.0.0.1 until interrupted.

    Every simulated CEX has an account "demo" whose read-only key is demo-key / demo-secret.
    """
    if not 0 <= port <= 65534:
        raise InvalidInput(f"port must be in 0..65534, got {port}")
    world = build_world(seed, campaigns)

    async def serve() -> None:
        try:
            async with serve_hufi(world, port) as urls:
                typer.echo(f"launcher: {urls.launcher}")
                typer.echo(f"oracle: {urls.oracle}")
                await urls.wait_closed()
        except OSError as exc:
            raise InvalidInput(f"cannot listen on 127.0.0.1:{port}/{port + 1}: {exc}") from None

    asyncio.run(serve())
