"""Serving the simulated Mixin on loopback with uvicorn.

The listening socket is bound (port 0 picks a free port) and put in listen mode before uvicorn
starts, so the URL is known at once and a client that connects early just waits in the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from hufimm.sim.loopback import bind_loopback
from hufimm.sim.mixin.app import MixinSimApp


def make_server(app: MixinSimApp, *, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


@contextlib.asynccontextmanager
async def serve_loopback(
    app: MixinSimApp, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``app`` in this event loop for the duration of the block; yields the base URL."""
    sock = bind_loopback(port, host)
    bound = sock.getsockname()[1]
    server = make_server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        await task
        sock.close()
