"""The simulated venue served as a Binance-spot-compatible REST + WebSocket API (aiohttp).

Binance's own paths, so a client needs only its base URLs replaced: REST under ``/api/v3``,
market streams at ``/ws`` (``/ws/<streams>`` and ``SUBSCRIBE``) and ``/stream?streams=a/b``
(frames wrapped as ``{"stream", "data"}``), and the WebSocket API at ``/ws-api/v3`` with the user
data stream (``userDataStream.subscribe.signature``).  Signed calls are checked like Binance
does (HMAC-SHA256 over query + body, ``timestamp``/``recvWindow`` against the venue's
:class:`TimeSource`); every response carries ``X-MBX-USED-WEIGHT-1M``; errors are
``{"code", "msg"}``; limits answer 429/418 with ``Retry-After``.

It runs on the caller's event loop — in-process beside the code under test, under the
virtual-time loop too — or standalone (``hufimm sim exchange``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from hufimm.core.logs import get_logger
from hufimm.market import Side
from hufimm.sim.exchange import binance_wire as wire
from hufimm.sim.exchange.engine import GTC, IOC, LIMIT, LIMIT_MAKER, SimError
from hufimm.sim.exchange.events import (
    StreamClosed,
)
from hufimm.sim.exchange.venue import SimAccount, SimExchange, Subscription

_log = get_logger("sim.exchange.server")

_SIGNATURE = re.compile(r"(^|&)signature=([0-9a-fA-F]*)")
_DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (5000, 250))

Params = dict[str, str]
Handler = Callable[[web.Request, Params, SimAccount | None], Awaitable[Any]]


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _decimal(params: Params, name: str) -> Decimal:
    raw = params.get(name)
    if raw is None or raw == "":
        raise SimError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SimError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None
    if not value.is_finite():
        raise SimError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def _int(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise SimError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        ) from None


class SimExchangeServer:
    """Serves one :class:`SimExchange`; ``await start()`` returns the base URL."""

    def __init__(
        self,
        venue: SimExchange,
        host: str = "127.0.0.1",
        port: int = 0,
        ws_heartbeat_s: float | None = None,
    ) -> None:
        self.venue = venue
        self.host = host
        self.port = port
        self._heartbeat = ws_heartbeat_s
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._symbols = {wire.market_id(s): s for s in venue.symbols()}
        self._subscription_ids = 0
        self.app = self._build_app()

    # ------------------------------------------------------------------ life cycle
    def _build_app(self) -> web.Application:
        app = web.Application()
        rest: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/api/v3/ping", self._ping, False),
            ("GET", "/api/v3/time", self._time, False),
            ("GET", "/api/v3/exchangeInfo", self._exchange_info, False),
            ("GET", "/api/v3/depth", self._depth, False),
            ("POST", "/api/v3/order", self._create_order, True),
            ("DELETE", "/api/v3/order", self._cancel_order, True),
            ("GET", "/api/v3/order", self._get_order, True),
            ("GET", "/api/v3/openOrders", self._open_orders, True),
            ("DELETE", "/api/v3/openOrders", self._cancel_open_orders, True),
            ("GET", "/api/v3/myTrades", self._my_trades, True),
            ("GET", "/api/v3/account", self._account, True),
        ]
        for method, path, handler, signed in rest:
            app.router.add_route(method, path, self._endpoint(handler, signed))
        app.router.add_get("/ws", self._market_ws)
        app.router.add_get("/ws/{streams:.*}", self._market_ws)
        app.router.add_get("/stream", self._combined_ws)
        app.router.add_get("/ws-api/v3", self._ws_api)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def ws_api_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws-api/v3"

    # ------------------------------------------------------------------ REST plumbing
    def _endpoint(
        self, handler: Handler, signed: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            client = request.remote or "?"
            headers: dict[str, str] = {}
            try:
                if self.venue.config.latency_s > 0:
                    await self.venue.time.sleep(self.venue.config.latency_s)
                body = await request.text() if request.method in ("POST", "PUT", "DELETE") else ""
                params = dict(parse_qsl(body, keep_blank_values=True))
                params.update(request.query)  # the query string wins on conflict
                weight = self._weight(handler, params)
                used = self.venue.charge_weight(client, weight)
                headers["X-MBX-USED-WEIGHT-1M"] = str(used)
                account = self._authenticate(request, params, body) if signed else None
                faults = self.venue.faults
                if faults.fires("ratelimit"):
                    raise SimError(
                        -1003,
                        "Too many requests; please use the websocket for live updates.",
                        429,
                        1,
                    )
                if faults.fires("error5xx"):
                    raise SimError(
                        -1008,
                        "Server is currently overloaded with other requests. "
                        "Please try again in a few minutes.",
                        503,
                    )
                data = await handler(request, params, account)
                if isinstance(data, tuple):
                    data, extra = data
                    headers.update(extra)
                return _json(data, headers=headers)
            except SimError as exc:
                if exc.retry_after is not None:
                    headers["Retry-After"] = str(exc.retry_after)
                headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.venue.used_weight(client)))
                return _json(
                    {"code": exc.code, "msg": exc.msg}, status=exc.http_status, headers=headers
                )

        return endpoint

    def _weight(self, handler: Handler, params: Params) -> int:
        func = getattr(handler, "__func__", handler)
        if func is SimExchangeServer._depth:
            limit = _int(params, "limit") or 100
            return next((w for top, w in _DEPTH_WEIGHTS if limit <= top), 250)
        if func is SimExchangeServer._open_orders:
            return 6 if "symbol" in params else 80
        if func is SimExchangeServer._my_trades:
            return 5 if "orderId" in params else 20
        weights: dict[Any, int] = {
            SimExchangeServer._exchange_info: 20,
            SimExchangeServer._get_order: 4,
            SimExchangeServer._account: 20,
        }
        return weights.get(func, 1)

    def _authenticate(self, request: web.Request, params: Params, body: str) -> SimAccount:
        api_key = request.headers.get("X-MBX-APIKEY", "")
        account = self.venue.account_by_key(api_key)
        if account is None:
            raise SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        query = request.query_string
        signature = params.get("signature")
        if not signature:
            raise SimError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        payload = _SIGNATURE.sub("", query).lstrip("&") + _SIGNATURE.sub("", body).lstrip("&")
        self._check_signature(account, payload, signature)
        self._check_timestamp(params)
        return account

    @staticmethod
    def _check_signature(account: SimAccount, payload: str, signature: str) -> None:
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise SimError(-1022, "Signature for this request is not valid.")

    def _check_timestamp(self, params: Mapping[str, Any]) -> None:
        timestamp = _int({k: str(v) for k, v in params.items()}, "timestamp")
        if timestamp is None:
            raise SimError(
                -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        window = _int({k: str(v) for k, v in params.items()}, "recvWindow") or 5000
        if window > 60_000:
            raise SimError(-1131, "recvWindow must be less than 60000")
        now = wire.ms(self.venue.time.time_ns())
        if timestamp >= now + 1000 or now - timestamp > window:
            raise SimError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def _symbol(self, params: Params, required: bool = True) -> str | None:
        raw = params.get("symbol")
        if not raw:
            if required:
                raise SimError(
                    -1102,
                    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                )
            return None
        symbol = self._symbols.get(raw.upper())
        if symbol is None:
            raise SimError(-1121, "Invalid symbol.")
        return symbol

    # ------------------------------------------------------------------ REST endpoints
    async def _ping(self, request: web.Request, params: Params, account: SimAccount | None) -> Any:
        return {}

    async def _time(self, request: web.Request, params: Params, account: SimAccount | None) -> Any:
        return {"serverTime": wire.ms(self.venue.time.time_ns())}

    async def _exchange_info(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        rules = self.venue.rules()
        wanted = params.get("symbol")
        if wanted:
            rules = [r for r in rules if wire.market_id(r.symbol) == wanted.upper()]
            if not rules:
                raise SimError(-1121, "Invalid symbol.")
        return wire.exchange_info(rules, self.venue.config.limits, self.venue.time.time_ns())

    async def _depth(self, request: web.Request, params: Params, account: SimAccount | None) -> Any:
        symbol = self._symbol(params)
        assert symbol is not None
        limit = min(_int(params, "limit") or 100, 5000)
        update_id, bids, asks = self.venue.depth(symbol, limit)
        return {
            "lastUpdateId": update_id,
            "bids": [[wire.num(p), wire.num(q)] for p, q in bids],
            "asks": [[wire.num(p), wire.num(q)] for p, q in asks],
        }

    async def _create_order(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        symbol = self._symbol(params)
        assert symbol is not None
        side_raw = params.get("side", "")
        if side_raw not in ("BUY", "SELL"):
            raise SimError(-1117, "Invalid side.")
        order_type = params.get("type", "")
        if order_type not in (LIMIT, LIMIT_MAKER):
            raise SimError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce") or (GTC if order_type == LIMIT else "")
        if order_type == LIMIT and tif not in (GTC, IOC):
            raise SimError(-1115, "Invalid timeInForce.")
        price = _decimal(params, "price")
        qty = _decimal(params, "quantity")
        client_id = (
            params.get("newClientOrderId") or f"sim{self.venue.rng.child('cid').randbits(48):x}"
        )
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,36}", client_id):
            raise SimError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[a-zA-Z0-9-_.]{1,36}$'.",
            )
        count_10s, count_day = self.venue.charge_order(account.name)
        report, fills = self.venue.place(
            account.name,
            symbol,
            Side.BUY if side_raw == "BUY" else Side.SELL,
            price,
            qty,
            client_id,
            order_type,
            tif or GTC,
        )
        self._after_mutation()
        headers = {"X-MBX-ORDER-COUNT-10S": str(count_10s), "X-MBX-ORDER-COUNT-1D": str(count_day)}
        response_type = params.get(
            "newOrderRespType", "FULL" if order_type in (LIMIT, LIMIT_MAKER) else "ACK"
        )
        if response_type == "ACK":
            data: dict[str, Any] = {
                "symbol": wire.market_id(symbol),
                "orderId": report.order_id,
                "orderListId": -1,
                "clientOrderId": report.client_order_id,
                "transactTime": wire.ms(report.created_ns),
            }
        elif response_type == "RESULT":
            data = wire.order_result(report) | {"transactTime": wire.ms(report.created_ns)}
        else:
            data = wire.order_full(report, fills)
        return data, headers

    def _after_mutation(self) -> None:
        """Fault: the engine acted, but the answer says the outcome is unknown."""
        if self.venue.faults.fires("timeout"):
            raise SimError(
                -1007,
                "Timeout waiting for response from backend server. "
                "Send status unknown; execution status unknown.",
                503,
            )

    async def _cancel_order(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        symbol = self._symbol(params)
        assert symbol is not None
        order_id = _int(params, "orderId")
        client_id = params.get("origClientOrderId") or None
        report = self.venue.cancel(
            account.name, symbol, order_id, client_id, params.get("newClientOrderId", "")
        )
        self._after_mutation()
        return wire.cancel_result(report)

    async def _get_order(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        symbol = self._symbol(params)
        assert symbol is not None
        report = self.venue.order(
            account.name, symbol, _int(params, "orderId"), params.get("origClientOrderId") or None
        )
        return wire.order_query(report)

    async def _open_orders(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        symbol = self._symbol(params, required=False)
        return [wire.order_query(r) for r in self.venue.open_orders(account.name, symbol)]

    async def _cancel_open_orders(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        symbol = self._symbol(params)
        assert symbol is not None
        reports = [
            self.venue.cancel(account.name, symbol, r.order_id)
            for r in self.venue.open_orders(account.name, symbol)
        ]
        return [wire.cancel_result(r) for r in reports]

    async def _my_trades(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        symbol = self._symbol(params)
        assert symbol is not None
        limit = min(_int(params, "limit") or 500, 1000)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = self.venue.my_trades(
            account.name,
            symbol,
            from_id=_int(params, "fromId"),
            order_id=_int(params, "orderId"),
            start_ns=None if start is None else start * 1_000_000,
            end_ns=None if end is None else end * 1_000_000 + 999_999,
            limit=limit,
        )
        return [wire.my_trade(r) for r in rows]

    async def _account(
        self, request: web.Request, params: Params, account: SimAccount | None
    ) -> Any:
        assert account is not None
        balances = self.venue.balances(account.name)
        if params.get("omitZeroBalances") == "true":
            balances = {a: b for a, b in balances.items() if b[0] or b[1]}
        fees = self.venue.config.fees
        uid = int.from_bytes(hashlib.sha256(account.name.encode()).digest()[:4], "big")
        return wire.account(balances, (fees.maker, fees.taker), self.venue.time.time_ns(), uid)

    # ------------------------------------------------------------------ market streams
    def _stream(self, name: str) -> tuple[str, str] | None:
        """``btcusdt@depth@100ms`` → ("depth", "BTC/USDT"); None for names we do not serve."""
        market, _, channel = name.partition("@")
        symbol = self._symbols.get(market.upper())
        if symbol is None:
            return None
        if channel in ("depth", "depth@100ms", "depth@1000ms"):
            return ("depth", symbol)
        if channel == "trade":
            return ("trade", symbol)
        return None

    async def _market_ws(self, request: web.Request) -> web.StreamResponse:
        initial = [s for s in request.match_info.get("streams", "").split("/") if s]
        return await self._serve_streams(request, initial, combined=False)

    async def _combined_ws(self, request: web.Request) -> web.StreamResponse:
        initial = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._serve_streams(request, initial, combined=True)

    async def _serve_streams(
        self, request: web.Request, initial: list[str], combined: bool
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self._heartbeat)
        await ws.prepare(request)
        self._sockets.add(ws)
        forwarders: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}
        lock = asyncio.Lock()

        async def send(data: Any) -> None:
            async with lock:
                await ws.send_str(json.dumps(data, separators=(",", ":")))

        def subscribe(name: str) -> bool:
            channel = self._stream(name)
            if channel is None:
                return False
            if name in forwarders:
                return True
            sub = self.venue.subscribe(*channel)
            task = asyncio.get_running_loop().create_task(
                self._forward(ws, sub, name if combined else None, send)
            )
            forwarders[name] = (sub, task)
            return True

        for name in initial:
            subscribe(name)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    request_data = json.loads(message.data)
                    method = request_data.get("method")
                    request_id = request_data.get("id")
                    names = request_data.get("params") or []
                except (ValueError, AttributeError):
                    await send({"error": {"code": 3, "msg": "Invalid JSON"}})
                    continue
                if method == "SUBSCRIBE":
                    unknown = [n for n in names if not subscribe(str(n))]
                    if unknown:
                        await send(
                            {
                                "error": {
                                    "code": 2,
                                    "msg": f"Invalid request: unknown stream(s) {unknown}",
                                },
                                "id": request_id,
                            }
                        )
                    else:
                        await send({"result": None, "id": request_id})
                elif method == "UNSUBSCRIBE":
                    for name in names:
                        entry = forwarders.pop(str(name), None)
                        if entry is not None:
                            self.venue.unsubscribe(entry[0])
                            entry[1].cancel()
                    await send({"result": None, "id": request_id})
                elif method == "LIST_SUBSCRIPTIONS":
                    await send({"result": sorted(forwarders), "id": request_id})
                else:
                    await send(
                        {
                            "error": {
                                "code": 1,
                                "msg": f"Invalid request: unknown method {method}",
                            },
                            "id": request_id,
                        }
                    )
        finally:
            for sub, task in forwarders.values():
                self.venue.unsubscribe(sub)
                task.cancel()
            self._sockets.discard(ws)
        return ws

    async def _forward(
        self,
        ws: web.WebSocketResponse,
        sub: Subscription,
        stream_name: str | None,
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        try:
            while True:
                event = await sub.get()
                if isinstance(event, StreamClosed):
                    await ws.close()
                    return
                data = wire.stream_event(event)
                if data is None:
                    continue
                await send({"stream": stream_name, "data": data} if stream_name else data)
        except (ConnectionResetError, RuntimeError):
            return

    # ------------------------------------------------------------------ WebSocket API
    async def _ws_api(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self._heartbeat)
        await ws.prepare(request)
        self._sockets.add(ws)
        client = request.remote or "?"
        lock = asyncio.Lock()
        subscriptions: dict[int, tuple[Subscription, asyncio.Task[None]]] = {}

        async def send(data: Any) -> None:
            async with lock:
                await ws.send_str(json.dumps(data, separators=(",", ":")))

        async def forward(sub_id: int, sub: Subscription) -> None:
            try:
                while True:
                    event = await sub.get()
                    if isinstance(event, StreamClosed):
                        await ws.close()
                        return
                    data = wire.stream_event(event)
                    if data is not None:
                        await send({"subscriptionId": sub_id, "event": data})
            except (ConnectionResetError, RuntimeError):
                return

        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    request_data = json.loads(message.data)
                    request_id = request_data.get("id")
                    method = str(request_data.get("method"))
                    params = request_data.get("params") or {}
                except (ValueError, AttributeError):
                    await send(
                        {
                            "id": None,
                            "status": 400,
                            "error": {"code": -1100, "msg": "Malformed request."},
                        }
                    )
                    continue
                try:
                    used = self.venue.charge_weight(client, 2)
                    result = self._ws_api_call(method, params, subscriptions, forward)
                    await send(
                        {
                            "id": request_id,
                            "status": 200,
                            "result": result,
                            "rateLimits": wire.ws_rate_limits(
                                self.venue.config.limits.request_weight_per_minute, used
                            ),
                        }
                    )
                except SimError as exc:
                    reply: dict[str, Any] = {
                        "id": request_id,
                        "status": exc.http_status,
                        "error": {"code": exc.code, "msg": exc.msg},
                    }
                    if exc.retry_after is not None:
                        reply["retryAfter"] = exc.retry_after
                    await send(reply)
        finally:
            for sub, task in subscriptions.values():
                self.venue.unsubscribe(sub)
                task.cancel()
            self._sockets.discard(ws)
        return ws

    def _ws_api_call(
        self,
        method: str,
        params: dict[str, Any],
        subscriptions: dict[int, tuple[Subscription, asyncio.Task[None]]],
        forward: Callable[[int, Subscription], Coroutine[Any, Any, None]],
    ) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": wire.ms(self.venue.time.time_ns())}
        if method == "userDataStream.subscribe.signature":
            account = self.venue.account_by_key(str(params.get("apiKey", "")))
            if account is None:
                raise SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
            signature = str(params.get("signature", ""))
            payload = "&".join(
                f"{k}={wire.signed_value(params[k])}" for k in sorted(params) if k != "signature"
            )
            self._check_signature(account, payload, signature)
            self._check_timestamp(params)
            self._subscription_ids += 1
            sub_id = self._subscription_ids
            sub = self.venue.subscribe("user", account.name)
            task = asyncio.get_running_loop().create_task(forward(sub_id, sub))
            subscriptions[sub_id] = (sub, task)
            return {"subscriptionId": sub_id}
        if method == "userDataStream.unsubscribe":
            wanted = params.get("subscriptionId")
            for sub_id in list(subscriptions):
                if wanted is None or int(wanted) == sub_id:
                    sub, task = subscriptions.pop(sub_id)
                    self.venue.unsubscribe(sub)
                    task.cancel()
            return {}
        raise SimError(-1100, f"Unknown method '{method}'.")
