"""The ccxt connector: any ccxt venue behind the :class:`~hufimm.exchange.connector.Connector`.

REST through ``ccxt.async_support`` and streams through ccxt.pro, with our clock, our rate
limiter (see :mod:`hufimm.exchange.ccxt_venue`), exact decimals, our client order ids mapped to
the venue's parameter, errors classified into the taxonomy, and reconnects with jittered
backoff.  ``maxRetriesOnFailure`` stays 0: ccxt never re-sends a request behind our back.
Secrets go to ccxt and nowhere else (never into a log line or an error message).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

from hufimm.core.backoff import Backoff
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.exchange import ccxt_convert as convert
from hufimm.exchange.ccxt_errors import Operation, classify
from hufimm.exchange.ccxt_venue import Hooks, call_context, hooked_class
from hufimm.exchange.client_ids import check_client_id, client_id_rule
from hufimm.exchange.ratelimit import Priority, RateLimiter
from hufimm.exchange.settings import ExchangeSettings
from hufimm.market import (
    Balance,
    BalanceUpdate,
    BookDiff,
    BookMessage,
    BookSnapshot,
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderUpdate,
    RejectReason,
    Side,
    StreamStatus,
    TradingRules,
    UserEvent,
)

T = TypeVar("T")
_log = get_logger("exchange.ccxt")


def _rebase(url: str, base: str) -> str:
    """``wss://stream.binance.com:9443/ws`` on ``ws://127.0.0.1:8000`` → ``ws://127.0.0.1:8000/ws``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return base.rstrip("/") + path


def apply_url_settings(urls: dict[str, Any], settings: ExchangeSettings) -> None:
    """Point ccxt's ``urls['api']`` at other hosts: REST and WS bases, then exact overrides."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, str):
            if node.startswith(("http://", "https://")) and settings.rest_url:
                return _rebase(node, settings.rest_url)
            if node.startswith(("ws://", "wss://")) and settings.ws_url:
                return _rebase(node, settings.ws_url)
        return node

    api = urls.get("api")
    if isinstance(api, dict | str):
        urls["api"] = walk(api)
    for dotted, value in settings.url_overrides.items():
        node = urls["api"]
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value


class CcxtConnector:
    """One exchange account through ccxt; see the module docstring."""

    def __init__(
        self,
        settings: ExchangeSettings,
        time_source: TimeSource,
        rng: SeededRng,
        metrics: Metrics | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.exchange_id = settings.exchange_id
        self.account = settings.account
        self._time = time_source
        self._rng = rng.child(f"exchange/{settings.exchange_id}/{settings.account}")
        self._limiter = limiter
        self._metrics = metrics
        self._rules: dict[str, TradingRules] = {}
        self._client_rule = client_id_rule(settings.exchange_id)
        self._streams = 0
        self.ex = self._build_exchange()

    def _build_exchange(self) -> Any:
        settings = self.settings
        cls = hooked_class(settings.exchange_id)
        options: dict[str, Any] = {"maxRetriesOnFailure": 0, "recvWindow": settings.recv_window_ms}
        if settings.exchange_id.startswith("binance"):
            options |= {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            }
        options |= settings.options
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": int(settings.timeout_s * 1000),
            "options": options,
        }
        for name in ("api_key", "secret", "password"):
            value = getattr(settings, name)
            if value is not None:
                config[{"api_key": "apiKey"}.get(name, name)] = value.get_secret_value()
        ex = cls(config)
        ex.number = str  # exact values as text; Decimal breaks ccxt's fee parsing
        ex.maxRetriesOnFailure = 0
        # One throttle: ccxt's endpoint costs, paid into our request pool at the venue's weight.
        self.limiter = self._limiter or RateLimiter(self._time, settings.pool_specs(ex.rateLimit))
        self.order_pools = settings.order_pool_names(list(self.limiter.pools))
        for pool in (settings.request_pool, *self.order_pools):
            self.limiter.spec(pool)  # an unknown pool is a configuration error, found now
        ex.hufimm = Hooks(self._time, self.limiter, settings.request_pool, settings.cost_weight())
        apply_url_settings(ex.urls, settings)
        return ex

    def __repr__(self) -> str:  # never shows credentials
        return f"CcxtConnector({self.exchange_id}, account={self.account})"

    # ------------------------------------------------------------------ plumbing
    async def _call(
        self,
        operation: Operation,
        priority: Priority,
        what: str,
        call: Callable[[], Awaitable[T]],
        extra_costs: dict[str, float] | None = None,
    ) -> T:
        with call_context(priority, extra_costs):
            try:
                return await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = classify(exc, operation, f"{self.exchange_id} {what}")
                if self._metrics is not None:
                    self._metrics.counter(
                        "exchange_errors_total",
                        "Exchange call failures by kind",
                        ["exchange", "kind"],
                    ).labels(self.exchange_id, type(error).__name__).inc()
                raise error from exc

    # ------------------------------------------------------------------ life cycle and markets
    async def start(self) -> None:
        await self.load_markets()

    async def close(self) -> None:
        await self.ex.close()
        await self.limiter.close()

    async def load_markets(self) -> dict[str, TradingRules]:
        """A retryable failure (a 5xx, a timeout, a 429) is tried again with backoff up to
        ``start_attempts`` times, so one bad second of the venue does not stop start-up."""
        backoff = self._backoff()
        attempt = 1
        while True:
            try:
                markets = await self._call(
                    Operation.READ,
                    Priority.QUERY,
                    "load_markets",
                    lambda: self.ex.load_markets(True),
                )
                break
            except ExchangeRetryable as error:
                if attempt >= self.settings.start_attempts:
                    raise
                delay = max(backoff.next_delay(), error.retry_after or 0.0)
                _log.debug("load markets failed", error=str(error), attempt=attempt, retry_in=delay)
                await self._time.sleep(delay)
                attempt += 1
        rules = {}
        for symbol, market in markets.items():
            if market.get("spot", True) and market.get("active", True) is not False:
                with contextlib.suppress(ValueError, KeyError):
                    rules[symbol] = convert.trading_rules(market)
        self._rules = rules
        return dict(rules)

    def rules(self, symbol: str) -> TradingRules:
        return self._rules[symbol]

    # ------------------------------------------------------------------ market data
    async def fetch_order_book(self, symbol: str, limit: int = 100) -> BookSnapshot:
        raw = await self._call(
            Operation.READ,
            Priority.MARKET_DATA,
            f"fetch_order_book {symbol}",
            lambda: self.ex.fetch_order_book(symbol, limit),
        )
        rules = self._rules.get(symbol)
        return BookSnapshot(
            symbol=symbol,
            seq=int(raw.get("nonce") or 0),
            bids=convert.levels(raw.get("bids", []), rules, Side.BUY),
            asks=convert.levels(raw.get("asks", []), rules, Side.SELL),
            ts_ns=self._time.time_ns(),
        )

    async def watch_book(self, symbol: str, limit: int | None = None) -> AsyncIterator[BookMessage]:
        """ccxt keeps the book (snapshot + diffs, gap → error); we re-emit it as our messages."""
        backoff = self._backoff()
        rules = self._rules.get(symbol)
        previous: tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]] | None = None
        while True:
            try:
                with call_context(Priority.MARKET_DATA):
                    book = await self.ex.watch_order_book(symbol, limit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = classify(exc, Operation.READ, f"watch_order_book {symbol}")
                if previous is not None:
                    yield StreamStatus(False, str(error), self._time.time_ns())
                    previous = None
                delay = max(backoff.next_delay(), getattr(error, "retry_after", None) or 0.0)
                _log.warning("book stream down", symbol=symbol, error=str(error), retry_in=delay)
                await self._time.sleep(delay)
                continue
            backoff.reset()
            seq = int(book.get("nonce") or 0)
            bids = dict(convert.levels(book["bids"], rules, Side.BUY))
            asks = dict(convert.levels(book["asks"], rules, Side.SELL))
            now = self._time.time_ns()
            if previous is None:
                yield StreamStatus(True, "book synchronised", now)
                yield BookSnapshot(
                    symbol,
                    seq,
                    tuple(sorted(bids.items(), reverse=True)),
                    tuple(sorted(asks.items())),
                    now,
                )
            elif seq > previous[0]:
                yield BookDiff(
                    symbol,
                    previous[0] + 1,
                    seq,
                    _changes(previous[1], bids, reverse=True),
                    _changes(previous[2], asks, reverse=False),
                    now,
                )
            previous = (seq, bids, asks)

    # ------------------------------------------------------------------ orders
    async def create_order(self, request: OrderRequest) -> Order:
        check_client_id(self.exchange_id, request.client_order_id)
        rules = self._rules.get(request.symbol)
        violation = rules.violation(request.price, request.qty) if rules else None
        if violation is not None:
            # ccxt would round an off-grid price to the *nearest* tick (maybe more aggressive):
            # refuse it here, definitively, as the venue would.
            raise ExchangeRejected(
                RejectReason.INVALID_ORDER,
                f"create_order {request.client_order_id}: filter failure {violation}",
            )
        params = self._client_rule.create_params(request.client_order_id)
        if request.post_only:
            params["postOnly"] = True
        order_costs = dict.fromkeys(self.order_pools, 1.0)
        raw = await self._call(
            Operation.CREATE,
            Priority.CREATE,
            f"create_order {request.client_order_id}",
            lambda: self.ex.create_order(
                request.symbol,
                "limit",
                request.side.value,
                request.qty,
                request.price,
                params,
            ),
            extra_costs=order_costs,
        )
        if not raw or raw.get("id") is None:
            raise ExchangeOutcomeUnknown(
                f"create_order {request.client_order_id}: answer without an order id"
            )
        return convert.order(raw, request.client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        params = self._client_rule.lookup_params(client_order_id)
        raw = await self._call(
            Operation.CANCEL,
            Priority.CANCEL,
            f"cancel_order {client_order_id}",
            lambda: self.ex.cancel_order(None, symbol, params),
        )
        return convert.order(raw, client_order_id)

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        params = self._client_rule.lookup_params(client_order_id)
        raw = await self._call(
            Operation.READ,
            Priority.QUERY,
            f"fetch_order {client_order_id}",
            lambda: self.ex.fetch_order(None, symbol, params),
        )
        return convert.order(raw, client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        raw = await self._call(
            Operation.READ,
            Priority.QUERY,
            f"fetch_open_orders {symbol or '*'}",
            lambda: self.ex.fetch_open_orders(symbol),
        )
        return [convert.order(o) for o in raw]

    async def fetch_fills(
        self, symbol: str, after: str | None = None, limit: int = 500
    ) -> list[Fill]:
        params: dict[str, Any] = {}
        numeric_cursor = after is not None and after.isdigit()
        if numeric_cursor and self.exchange_id.startswith("binance"):
            params["fromId"] = int(after or 0) + 1
        raw = await self._call(
            Operation.READ,
            Priority.QUERY,
            f"fetch_my_trades {symbol}",
            lambda: self.ex.fetch_my_trades(symbol, None, limit, params),
        )
        fills = [convert.fill(t, self.exchange_id, self.account) for t in raw]
        if after is not None:
            if numeric_cursor:
                fills = [f for f in fills if f.trade_id.isdigit() and int(f.trade_id) > int(after)]
            else:
                ids = [f.trade_id for f in fills]
                fills = fills[ids.index(after) + 1 :] if after in ids else fills
        return fills

    async def fetch_balances(self) -> dict[str, Balance]:
        raw = await self._call(
            Operation.READ, Priority.QUERY, "fetch_balance", self.ex.fetch_balance
        )
        return convert.balances(raw)

    # ------------------------------------------------------------------ user stream
    async def watch_user(self, symbols: list[str] | None = None) -> AsyncIterator[UserEvent]:
        """Orders, fills and balances from ccxt.pro, merged; reconnects with backoff."""
        queue: asyncio.Queue[UserEvent] = asyncio.Queue()
        state = {"up": False}
        backoff = self._backoff()
        lock = asyncio.Lock()

        async def outage(exc: BaseException, what: str) -> None:
            error = classify(exc, Operation.READ, what) if isinstance(exc, Exception) else exc
            async with lock:
                if state["up"]:
                    state["up"] = False
                    queue.put_nowait(StreamStatus(False, str(error), self._time.time_ns()))
                delay = max(backoff.next_delay(), getattr(error, "retry_after", None) or 0.0)
            _log.warning("user stream down", account=self.account, error=str(error), retry_in=delay)
            await self._time.sleep(delay)

        async def ensure_up() -> None:
            # One subscription at a time: ccxt lets a concurrent caller return before the
            # venue acknowledged the first one, and "up" must mean events now flow.
            async with lock:
                authenticate = getattr(self.ex, "authenticate", None)
                if authenticate is not None and self.exchange_id.startswith("binance"):
                    with call_context(Priority.QUERY):
                        await authenticate()
                if not state["up"]:
                    state["up"] = True
                    backoff.reset()
                    queue.put_nowait(
                        StreamStatus(True, "user stream subscribed", self._time.time_ns())
                    )

        async def pump(
            what: str, watch: Callable[[], Awaitable[Any]], emit: Callable[[Any], None]
        ) -> None:
            while True:
                try:
                    await ensure_up()
                    with call_context(Priority.QUERY):
                        items = await watch()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    await outage(exc, what)
                    continue
                emit(items)

        def emit_orders(items: Any) -> None:
            now = self._time.time_ns()
            for raw in items:
                queue.put_nowait(OrderUpdate(convert.order(raw), now))

        def emit_trades(items: Any) -> None:
            for raw in items:
                queue.put_nowait(FillEvent(convert.fill(raw, self.exchange_id, self.account)))

        def emit_balance(raw: Any) -> None:
            queue.put_nowait(BalanceUpdate(convert.balances(raw), self._time.time_ns()))

        def watcher(method: str, symbol: str | None) -> Callable[[], Awaitable[Any]]:
            return lambda: getattr(self.ex, method)(symbol)

        wanted: list[str | None] = list(symbols) if symbols else [None]
        pumps = []
        for symbol in wanted:
            pumps.append(pump("watch_orders", watcher("watch_orders", symbol), emit_orders))
            pumps.append(pump("watch_my_trades", watcher("watch_my_trades", symbol), emit_trades))
        pumps.append(pump("watch_balance", self.ex.watch_balance, emit_balance))
        tasks = [asyncio.ensure_future(p) for p in pumps]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _backoff(self) -> Backoff:
        self._streams += 1
        return Backoff(
            self.settings.reconnect_initial_s,
            self.settings.reconnect_max_s,
            self._rng.child(f"backoff/{self._streams}"),
        )


def _changes(
    before: dict[Decimal, Decimal], after: dict[Decimal, Decimal], reverse: bool
) -> tuple[tuple[Decimal, Decimal], ...]:
    """Levels whose quantity changed, with 0 for levels that disappeared."""
    out = [(price, qty) for price, qty in after.items() if before.get(price) != qty]
    out.extend((price, Decimal(0)) for price in before if price not in after)
    out.sort(key=lambda level: level[0], reverse=reverse)
    return tuple(out)
