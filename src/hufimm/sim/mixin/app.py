"""The simulated Mixin as an ASGI application.

A plain ASGI callable (no framework) so that it sees the request exactly as the wire carried it:
the raw path and raw query the JWT's ``sig`` covers, and the raw body bytes.  Use it in-process
through ``httpx.ASGITransport`` or serve it on loopback with uvicorn
(:mod:`hufimm.sim.mixin.server`).  Errors are Mixin's HTTP 202 envelopes.  Test hooks live under
``/_sim/`` and need no token (the world's operator is not a Mixin user).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from hufimm.mixin.kernel import parse_rfc3339_nano
from hufimm.sim.mixin.auth import authenticate
from hufimm.sim.mixin.errors import NOT_FOUND, UNAUTHORIZED, SimError, invalid
from hufimm.sim.mixin.faults import Fault, FaultKind, FaultPlan
from hufimm.sim.mixin.records import SimUser, format_amount
from hufimm.sim.mixin.world import MixinWorld

HOOK_PREFIX = "/_sim/"
MAX_LIMIT = 500

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    user: SimUser | None
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise SimError(400, "body is not JSON") from None

    def caller(self) -> str:
        assert self.user is not None
        return self.user.user_id

    def int_arg(self, name: str, default: int, maximum: int | None = None) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(f"{name} must be an integer") from None
        if value < 0 or (maximum is not None and value > maximum):
            raise invalid(f"{name} out of range")
        return value


Handler = Callable[["MixinSimApp", Call], Any]
_ROUTES: list[tuple[str, re.Pattern[str], Handler, str]] = []


def route(method: str, pattern: str, auth: str = "jwt") -> Callable[[Handler], Handler]:
    """Register a handler; ``auth`` is ``jwt`` (a Safe session), ``oauth`` or ``none``."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, regex, handler, auth))
        return handler

    return register


class MixinSimApp:
    def __init__(self, world: MixinWorld, faults: FaultPlan | None = None) -> None:
        self.world = world
        self.faults = faults or FaultPlan()
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, payload, content_type = await self.handle(scope, body, headers)
        response_headers = [(b"content-type", content_type.encode())]
        if "x-request-id" in headers:
            response_headers.append((b"x-request-id", headers["x-request-id"].encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    async def handle(
        self, scope: Scope, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, str]:
        method = scope["method"].upper()
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]  # some transports put the query in raw_path
        raw_query = scope.get("query_string", b"").decode("latin-1")
        target = raw_path + ("?" + raw_query if raw_query else "")
        path = scope["path"]
        self.calls.append((method, path))
        fault = None if path.startswith(HOOK_PREFIX) else self.faults.take(method, path)
        if fault is not None and not fault.after:
            return await self._fault(fault, None)
        result = self._dispatch(method, path, target, raw_query, body, headers)
        if fault is not None:
            return await self._fault(fault, result)
        return result

    async def _fault(
        self, fault: Fault, result: tuple[int, bytes, str] | None
    ) -> tuple[int, bytes, str]:
        if fault.kind is FaultKind.DELAY:
            await self.world.time_source.sleep(fault.delay_s)
            if result is not None:
                return result
            return self._json(200, {"error": {"code": 500, "description": "stalled"}})
        if fault.kind is FaultKind.HTTP:
            return fault.status, b"<html>bad gateway</html>", "text/html"
        return self._json(202, SimError(fault.code, fault.description).envelope())

    @staticmethod
    def _json(status: int, document: Any) -> tuple[int, bytes, str]:
        return status, json.dumps(document).encode(), "application/json"

    def _dispatch(
        self,
        method: str,
        path: str,
        target: str,
        raw_query: str,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[int, bytes, str]:
        try:
            for route_method, regex, handler, auth in _ROUTES:
                match = regex.match(path)
                if match is None or route_method != method:
                    continue
                user = None
                if auth == "jwt":
                    user = authenticate(
                        self.world, method, target, body, headers.get("authorization", "")
                    )
                elif auth == "oauth":
                    user = self._oauth_user(headers.get("authorization", ""))
                call = Call(
                    method,
                    path,
                    match.groupdict(),
                    dict(parse_qsl(raw_query, True)),
                    body,
                    user,
                    headers,
                )
                return self._json(200, {"data": handler(self, call)})
            raise SimError(NOT_FOUND, f"no route {method} {path}")
        except SimError as exc:
            return self._json(202, exc.envelope())
        except (KeyError, TypeError, ValueError) as exc:
            if not path.startswith(HOOK_PREFIX):
                raise  # a bug in the simulator, not a bad request
            return self._json(202, invalid(f"bad hook request: {exc!r}").envelope())

    def _oauth_user(self, authorization: str) -> SimUser:
        token = authorization.removeprefix("Bearer ").strip()
        user_id = self.world.oauth_tokens.get(token)
        if user_id is None:
            raise SimError(UNAUTHORIZED, "unauthorized: unknown access token")
        return self.world.user(user_id)


# ---------------------------------------------------------------------- users
@route("GET", "/safe/me")
def _me(app: MixinSimApp, call: Call) -> Any:
    assert call.user is not None
    return call.user.to_json()


@route("GET", "/me", auth="oauth")
def _oauth_me(app: MixinSimApp, call: Call) -> Any:
    assert call.user is not None
    return call.user.to_json()


@route("GET", "/users/{user_id}")
def _user(app: MixinSimApp, call: Call) -> Any:
    return app.world.user(call.params["user_id"]).to_json()


@route("POST", "/users/fetch")
def _users(app: MixinSimApp, call: Call) -> Any:
    ids = call.json()
    if not isinstance(ids, list):
        raise invalid("expected a list of user ids")
    return [app.world.users[i].to_json() for i in ids if i in app.world.users]


# ---------------------------------------------------------------------- snapshots and outputs
@route("GET", "/safe/snapshots")
def _snapshots(app: MixinSimApp, call: Call) -> Any:
    offset = call.query.get("offset")
    try:
        offset_ns = parse_rfc3339_nano(offset) if offset else None
    except ValueError:
        raise invalid("offset must be an RFC 3339 time") from None
    order = call.query.get("order", "ASC").upper()
    if order not in ("ASC", "DESC"):
        raise invalid("order is ASC or DESC")
    items = app.world.list_snapshots(
        call.caller(),
        asset=call.query.get("asset") or None,
        opponent=call.query.get("opponent") or None,
        offset_ns=offset_ns,
        limit=call.int_arg("limit", 100, MAX_LIMIT),
        descending=order == "DESC",
    )
    return [s.to_json() for s in items]


@route("GET", "/safe/snapshots/{snapshot_id}")
def _snapshot(app: MixinSimApp, call: Call) -> Any:
    for snapshot in app.world.snapshots.get(call.caller(), []):
        if snapshot.snapshot_id == call.params["snapshot_id"]:
            return snapshot.to_json()
    raise SimError(NOT_FOUND, "snapshot not found")


@route("GET", "/safe/outputs")
def _outputs(app: MixinSimApp, call: Call) -> Any:
    members = call.query.get("members")
    if not members:
        raise invalid("members is required")
    raw_offset = call.query.get("offset")
    items = app.world.list_outputs(
        call.caller(),
        members=members,
        threshold=call.int_arg("threshold", 1),
        asset=call.query.get("asset") or None,
        state=call.query.get("state") or None,
        offset=call.int_arg("offset", 0) if raw_offset else None,
        limit=call.int_arg("limit", 100, MAX_LIMIT),
        descending=call.query.get("order", "ASC").upper() == "DESC",
    )
    return [o.to_json() for o in items]


# ---------------------------------------------------------------------- transactions
@route("POST", "/safe/keys")
def _keys(app: MixinSimApp, call: Call) -> Any:
    items = call.json()
    if not isinstance(items, list) or not items:
        raise invalid("expected a non-empty list of key requests")
    return app.world.ghost_keys(call.caller(), items)


def _items(call: Call) -> list[dict[str, Any]]:
    items = call.json()
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise invalid("expected a non-empty list of {request_id, raw}")
    return items


@route("POST", "/safe/transaction/requests")
def _requests(app: MixinSimApp, call: Call) -> Any:
    return [app.world.render(r) for r in app.world.register_requests(call.caller(), _items(call))]


@route("POST", "/safe/transactions")
def _submit(app: MixinSimApp, call: Call) -> Any:
    return [app.world.render(r) for r in app.world.submit(call.caller(), _items(call))]


@route("GET", "/safe/transactions/{request_id}")
def _lookup(app: MixinSimApp, call: Call) -> Any:
    return app.world.render(app.world.request_of(call.caller(), call.params["request_id"]))


# ---------------------------------------------------------------------- deposits and assets
@route("POST", "/safe/deposit/entries")
def _entries(app: MixinSimApp, call: Call) -> Any:
    body = call.json()
    try:
        members = [str(m) for m in body["members"]]
        threshold = int(body["threshold"])
        chain_id = str(body["chain_id"])
    except (KeyError, TypeError, ValueError):
        raise invalid("members, threshold and chain_id are required") from None
    return [app.world.deposit_entry(call.caller(), chain_id, members, threshold).to_json()]


@route("GET", "/safe/deposits")
def _deposits(app: MixinSimApp, call: Call) -> Any:
    items = app.world.pending_deposits(
        call.caller(),
        asset_id=call.query.get("asset"),
        destination=call.query.get("destination"),
        tag=call.query.get("tag"),
    )
    return [d.to_json() for d in items[: call.int_arg("limit", 100, MAX_LIMIT)]]


@route("GET", "/safe/assets/{asset_id}")
def _asset(app: MixinSimApp, call: Call) -> Any:
    return app.world.asset(call.params["asset_id"]).to_json()


@route("POST", "/safe/assets/fetch")
def _assets(app: MixinSimApp, call: Call) -> Any:
    ids = call.json()
    if not isinstance(ids, list):
        raise invalid("expected a list of asset ids")
    return [app.world.assets[i].to_json() for i in ids if i in app.world.assets]


@route("GET", "/safe/assets/{asset_id}/fees")
def _fees(app: MixinSimApp, call: Call) -> Any:
    asset = app.world.asset(call.params["asset_id"])
    return [
        {
            "type": "withdrawal_fee",
            "asset_id": asset.fee_asset_id,
            "amount": format_amount(asset.fee_units),
            "priority": "normal",
        }
    ]


@route("POST", "/oauth/token", auth="none")
def _oauth_token(app: MixinSimApp, call: Call) -> Any:
    body = call.json()
    if not isinstance(body, dict):
        raise invalid("expected an object")
    return app.world.exchange_oauth_code(
        str(body.get("client_id", "")),
        str(body.get("code", "")),
        str(body.get("client_secret", "")),
    )


# ---------------------------------------------------------------------- test hooks
def _object(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise invalid("expected an object")
    return body


@route("POST", "/_sim/users", auth="none")
def _hook_user(app: MixinSimApp, call: Call) -> Any:
    body = _object(call)
    keys = app.world.add_user(
        str(body.get("full_name", "user")),
        user_id=body.get("user_id"),
        has_safe=bool(body.get("has_safe", True)),
    )
    return keys.to_json()


@route("GET", "/_sim/balances/{user_id}", auth="none")
def _hook_balances(app: MixinSimApp, call: Call) -> Any:
    balances = app.world.balances(call.params["user_id"])
    return {asset: format_amount(units) for asset, units in sorted(balances.items())}


@route("POST", "/_sim/users/{user_id}/safe", auth="none")
def _hook_safe(app: MixinSimApp, call: Call) -> Any:
    app.world.set_has_safe(call.params["user_id"], bool(_object(call).get("has_safe", True)))
    return app.world.user(call.params["user_id"]).to_json()


@route("POST", "/_sim/transfers", auth="none")
def _hook_transfer(app: MixinSimApp, call: Call) -> Any:
    body = _object(call)
    snapshot = app.world.inject_transfer(
        str(body["sender_id"]),
        str(body["recipient_id"]),
        str(body["asset_id"]),
        Decimal(str(body["amount"])),
        memo=bytes.fromhex(str(body.get("memo_hex", ""))),
        request_id=body.get("request_id"),
    )
    return snapshot.to_json()


@route("POST", "/_sim/deposits", auth="none")
def _hook_deposit(app: MixinSimApp, call: Call) -> Any:
    body = _object(call)
    deposit = app.world.inject_chain_deposit(
        str(body["asset_id"]),
        Decimal(str(body["amount"])),
        str(body["destination"]),
        tag=str(body.get("tag", "")),
        deposit_hash=body.get("deposit_hash"),
    )
    return deposit.to_json()


@route("POST", "/_sim/deposits/confirm", auth="none")
def _hook_confirm_deposits(app: MixinSimApp, call: Call) -> Any:
    return [s.to_json() for s in app.world.confirm_deposits()]


@route("POST", "/_sim/transactions/confirm", auth="none")
def _hook_confirm_transactions(app: MixinSimApp, call: Call) -> Any:
    return app.world.confirm_transactions()


@route("POST", "/_sim/withdrawals/complete", auth="none")
def _hook_withdrawals(app: MixinSimApp, call: Call) -> Any:
    return app.world.complete_withdrawals()


@route("POST", "/_sim/faults", auth="none")
def _hook_fault(app: MixinSimApp, call: Call) -> Any:
    body = _object(call)
    try:
        fault = Fault(
            kind=FaultKind(body.get("kind", "error")),
            count=int(body.get("count", 1)),
            method=str(body.get("method", "")),
            path_prefix=str(body.get("path_prefix", "")),
            code=int(body.get("code", 500)),
            status=int(body.get("status", 503)),
            delay_s=float(body.get("delay_s", 0.0)),
            after=bool(body.get("after", False)),
        )
    except ValueError as exc:
        raise invalid(str(exc)) from None
    app.faults.add(fault)
    return {"armed": app.faults.armed}


@route("DELETE", "/_sim/faults", auth="none")
def _hook_clear_faults(app: MixinSimApp, call: Call) -> Any:
    app.faults.clear()
    return {"armed": 0}


@route("POST", "/_sim/clock/advance", auth="none")
def _hook_advance(app: MixinSimApp, call: Call) -> Any:
    seconds = Decimal(str(_object(call).get("seconds", 0)))
    if seconds < 0:
        raise invalid("time never goes backwards")
    app.world.clock.offset_ns += int(seconds * 1_000_000_000)
    return {"now_ns": app.world.clock.now()}


@route("POST", "/_sim/oauth/codes", auth="none")
def _hook_oauth_code(app: MixinSimApp, call: Call) -> Any:
    body = _object(call)
    return {
        "code": app.world.issue_oauth_code(
            str(body["app_id"]), str(body["user_id"]), str(body.get("scope", "PROFILE:READ"))
        )
    }
