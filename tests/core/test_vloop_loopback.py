"""Real HTTP over loopback inside the virtual-time loop: no spurious timeouts, no time drift."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.sim.loopback import bind_loopback


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"n": int(request.query_params["n"])})


def test_http_requests_take_no_virtual_time_and_never_time_out() -> None:
    ts = VirtualTimeSource()
    sleeps = [0, 0, 3, 0.5, 60, 0, 7]

    async def main() -> list[int]:
        sock = bind_loopback()
        server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=[Route("/", _echo)]),
                log_level="warning",
                lifespan="off",
                timeout_keep_alive=3600,
            )
        )
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.05)
        seen = []
        start = ts.monotonic_ns()
        # Fresh connections and keep-alive reuse, with virtual pauses in between.
        for round_ in range(2):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=1.0
            ) as client:
                for i, pause in enumerate(sleeps):
                    response = await client.get("/", params={"n": round_ * 100 + i})
                    seen.append(response.json()["n"])
                    await asyncio.sleep(pause)
        elapsed = ts.monotonic_ns() - start
        server.should_exit = True
        await task
        # Only the sleeps moved the clock (a jump during a request would be 1 s, the timeout);
        # each sleep may overshoot by a nanosecond of float-to-ns rounding.
        assert abs(elapsed - round(2 * sum(sleeps) * NS_PER_SECOND)) < 1000
        return seen

    assert run_virtual(main(), ts) == [r * 100 + i for r in range(2) for i in range(len(sleeps))]
