"""Serving the simulated launcher and oracle over real HTTP on loopback.

Sockets are bound before uvicorn starts so that port 0 yields two free ports and the URLs are
known at once; both servers run in the caller's event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn

from hufimm.sim.hufi.world import HufiWorld
from hufimm.sim.loopback import LOOPBACK, bind_loopback


@dataclass(frozen=True)
class HufiUrls:
    launcher: str
    oracle: str
    _tasks: tuple[asyncio.Task[None], ...] = field(default=(), repr=False, compare=False)

    async def wait_closed(self) -> None:
        """Return when either server stops (a signal, a fatal error)."""
        if self._tasks:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)


def bind_pair(port: int) -> tuple[socket.socket, socket.socket]:
    """Sockets for the launcher (``port``) and the oracle (``port + 1``); 0 picks two free ones."""
    first = bind_loopback(port)
    try:
        second = bind_loopback(0 if port == 0 else port + 1)
    except OSError:
        first.close()
        raise
    return first, second


@asynccontextmanager
async def serve_hufi(world: HufiWorld, port: int = 0) -> AsyncIterator[HufiUrls]:
    """Serve both apps until the block exits; yields their base URLs."""
    launcher_sock, oracle_sock = bind_pair(port)
    launcher_url = f"http://{LOOPBACK}:{launcher_sock.getsockname()[1]}"
    oracle_url = f"http://{LOOPBACK}:{oracle_sock.getsockname()[1]}"
    world.oracle.results_base_url = oracle_url
    servers = [
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        for app in (world.launcher_app(), world.oracle_app())
    ]
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, (launcher_sock, oracle_sock), strict=True)
    ]
    try:
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise RuntimeError(
                            "a simulated HuFi server failed to start"
                        ) from task.exception()
                raise RuntimeError("a simulated HuFi server stopped during start-up")
            await asyncio.sleep(0.005)
        yield HufiUrls(launcher_url, oracle_url, tuple(tasks))
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        launcher_sock.close()
        oracle_sock.close()
