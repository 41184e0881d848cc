"""``hufimm sim mixin``: serve the simulated Mixin Safe API on loopback.

Register it on the ``sim`` group with ``app.command(name="mixin")(sim_mixin.mixin)``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from hufimm.core.timesource import RealTimeSource
from hufimm.sim.loopback import bind_loopback
from hufimm.sim.mixin import MixinSimApp, MixinWorld
from hufimm.sim.mixin.server import make_server


def mixin(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 7400,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the world (keys and ids).")] = 1,
    keystore_out: Annotated[
        Path | None, typer.Option(help="Write the bot's keystore JSON to this file.")
    ] = None,
) -> None:
    """Serve a simulated Mixin with one bot; prints the URL and the bot's keystore."""
    world = MixinWorld(RealTimeSource(), seed=seed)
    bot = world.add_user("hufimm bot")
    sock = bind_loopback(port, host)
    url = f"http://{host}:{sock.getsockname()[1]}"
    keystore = bot.to_json()
    if keystore_out is not None:
        keystore_out.write_text(json.dumps(keystore, indent=2) + "\n")
    typer.echo(f"simulated Mixin at {url}")
    typer.echo(json.dumps({"base_url": url, **keystore}))
    typer.echo("hooks: POST /_sim/users, /_sim/transfers, /_sim/deposits, /_sim/faults, ...")
    server = make_server(MixinSimApp(world), log_level="info")
    asyncio.run(server.serve(sockets=[sock]))
