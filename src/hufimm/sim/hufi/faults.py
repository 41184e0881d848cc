"""Fault injection and request logging for the simulated HuFi services.

Faults are armed by tests (or a chaos scenario) per service: a 5xx storm, a 401 on every call,
a 200 whose body is not JSON, a 200 with a field removed, a slow answer.  Every request is
logged with its outcome so a test can assert what a client did (and, above all, what it never
did: no ``DELETE`` of an exchange key).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from hufimm.core.timesource import TimeSource
from hufimm.sim.hufi.wire import dumps, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FaultKind = Literal["status", "unauthorized", "malformed", "strip", "delay"]
_STATUS_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class Fault:
    """What to do to requests matching ``method`` and a ``path`` prefix, ``times`` times."""

    kind: FaultKind
    path: str = "/"
    method: str | None = None
    times: int = 1
    status: int = 503
    field: str = ""
    delay_s: float = 0.0
    exact: bool = False  # match the path exactly instead of as a prefix
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times == 0 or self.method not in (None, method):
            return False
        return path == self.path if self.exact else path.startswith(self.path)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    fault: str | None


class FaultPlan:
    """The armed faults of one service and the log of its requests."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def count(self, method: str | None = None, path: str = "") -> int:
        return sum(
            1
            for entry in self.log
            if (method is None or entry.method == method) and entry.path.startswith(path)
        )


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultPlan` and logging every HTTP request."""

    def __init__(self, app: AsgiApp, plan: FaultPlan, time: TimeSource) -> None:
        self._app = app
        self._plan = plan
        self._time = time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        fault = self._plan.take(method, path)
        status_box = [0]

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            if fault is None:
                await self._app(scope, receive, logging_send)
            elif fault.kind == "delay":
                # Network latency: loop time (virtual under a virtual loop, real otherwise).
                await asyncio.sleep(fault.delay_s)
                await self._app(scope, receive, logging_send)
            elif fault.kind == "strip":
                await self._strip(fault.field, scope, receive, logging_send)
            else:
                await self._canned(fault, path, logging_send)
        finally:
            self._plan.log.append(
                LoggedRequest(method, path, status_box[0], None if fault is None else fault.kind)
            )

    async def _canned(self, fault: Fault, path: str, send: Send) -> None:
        now = self._time.time_ns()
        if fault.kind == "status":
            text = _STATUS_TEXT.get(fault.status, "Error")
            status, body = (
                fault.status,
                dumps(error_body(text, path, now, status_code=fault.status)),
            )
        elif fault.kind == "unauthorized":
            status, body = 401, dumps(error_body("Unauthorized", path, now, status_code=401))
        else:  # malformed: a proxy cut the body short
            status, body = 200, b'{"has_more": tru'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _strip(self, field: str, scope: Scope, receive: Receive, send: Send) -> None:
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self._app(scope, receive, capture)
        start = next(m for m in captured if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        with contextlib.suppress(ValueError):
            body = dumps(_without(json.loads(body, parse_float=Decimal), field))
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _without(value: Any, field: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, field) for k, v in value.items() if k != field}
    if isinstance(value, list):
        return [_without(v, field) for v in value]
    return value
