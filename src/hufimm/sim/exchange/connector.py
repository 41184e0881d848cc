"""An in-process connector to the simulated exchange, for fast deterministic tests.

It implements the :class:`hufimm.exchange.Connector` protocol without the network: calls go
straight to the :class:`SimExchange`, with the venue's latency, request weights and order
limits, and the same faults the HTTP server injects (429, 503 before acting, "-1007" after
acting, stream drops, duplicates, reorders, gaps and disconnects).  Refusals come out as the
same taxonomy errors the ccxt connector raises against the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from hufimm.core.backoff import Backoff
from hufimm.core.errors import HufimmError
from hufimm.core.rng import SeededRng
from hufimm.market import (
    Balance,
    BalanceUpdate,
    BookDiff,
    BookMessage,
    BookSnapshot,
    ExchangeOutcomeUnknown,
    ExchangeRetryable,
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    StreamStatus,
    TradingRules,
    UserEvent,
)
from hufimm.market.binance_codes import classify_binance
from hufimm.sim.exchange.engine import GTC, LIMIT, LIMIT_MAKER, AccountTrade, SimError
from hufimm.sim.exchange.events import (
    AccountEvent,
    DepthEvent,
    ExecutionEvent,
    OrderReport,
    StreamClosed,
)
from hufimm.sim.exchange.venue import SimExchange

T = TypeVar("T")

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (5000, 250))


def order_of(report: OrderReport) -> Order:
    return Order(
        symbol=report.symbol,
        order_id=str(report.order_id),
        client_order_id=report.client_order_id,
        side=report.side,
        price=report.price,
        qty=report.qty,
        filled_qty=report.executed,
        filled_quote=report.cum_quote,
        status=_STATUS[report.status],
        post_only=report.type == LIMIT_MAKER,
        created_ns=report.created_ns,
        updated_ns=report.updated_ns,
    )


class SimConnector:
    """One account of a :class:`SimExchange`, spoken to in-process."""

    def __init__(
        self,
        venue: SimExchange,
        api_key: str,
        rng: SeededRng | None = None,
        exchange_id: str | None = None,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        account = venue.account_by_key(api_key)
        if account is None:
            raise HufimmError("the simulated exchange has no account with that api key")
        self._venue = venue
        self._time = venue.time
        self.exchange_id = exchange_id or venue.config.name
        self.account = account.name
        self._client = f"sim:{account.name}"
        self._rng = (rng or venue.rng).child(f"connector/{account.name}")
        self._backoff_limits = (reconnect_initial_s, reconnect_max_s)
        self._streams = 0

    def __repr__(self) -> str:
        return f"SimConnector({self.exchange_id}, account={self.account})"

    # ------------------------------------------------------------------ plumbing
    async def _request(self, weight: int, mutates: bool, what: str, call: Callable[[], T]) -> T:
        """One REST-like call: latency, weight, faults, then the call; errors → taxonomy."""
        latency = self._venue.config.latency_s
        if latency > 0:
            await self._time.sleep(latency)
        faults = self._venue.faults
        try:
            self._venue.charge_weight(self._client, weight)
            if faults.fires("ratelimit"):
                raise SimError(-1003, "Too many requests.", 429, 1)
            if faults.fires("error5xx"):
                raise SimError(-1008, "Server is currently overloaded.", 503)
            result = call()
            if mutates and faults.fires("timeout"):
                raise SimError(-1007, "Send status unknown; execution status unknown.", 503)
            return result
        except SimError as exc:
            text = f"{self.exchange_id} {what}: {exc.code} {exc.msg}"
            retry_after = None if exc.retry_after is None else float(exc.retry_after)
            if exc.http_status in (418, 429):
                raise ExchangeRetryable(
                    text,
                    retry_after,
                    rate_limited=True,
                    banned=exc.http_status == 418,
                    venue_code=exc.code,
                ) from exc
            error = classify_binance(exc.code, exc.msg, mutates, text, retry_after)
            if error is None:
                error = (
                    ExchangeOutcomeUnknown(text, exc.code) if mutates else ExchangeRetryable(text)
                )
            raise error from exc

    def _backoff(self) -> Backoff:
        self._streams += 1
        initial, maximum = self._backoff_limits
        return Backoff(initial, maximum, self._rng.child(f"backoff/{self._streams}"))

    # ------------------------------------------------------------------ markets
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load_markets(self) -> dict[str, TradingRules]:
        rules = await self._request(20, False, "exchangeInfo", self._venue.rules)
        return {r.symbol: r for r in rules}

    def rules(self, symbol: str) -> TradingRules:
        try:
            return self._venue.symbol_rules(symbol)
        except SimError:
            raise KeyError(symbol) from None

    async def fetch_order_book(self, symbol: str, limit: int = 100) -> BookSnapshot:
        weight = next((w for top, w in _DEPTH_WEIGHTS if limit <= top), 250)
        seq, bids, asks = await self._request(
            weight, False, f"depth {symbol}", lambda: self._venue.depth(symbol, limit)
        )
        return BookSnapshot(symbol, seq, tuple(bids), tuple(asks), self._time.time_ns())

    async def watch_book(self, symbol: str, limit: int | None = None) -> AsyncIterator[BookMessage]:
        backoff = self._backoff()
        while True:
            sub = self._venue.subscribe("depth", symbol)
            try:
                seq, bids, asks = self._venue.depth(symbol, limit)
                now = self._time.time_ns()
                yield StreamStatus(True, "book subscribed", now)
                yield BookSnapshot(symbol, seq, tuple(bids), tuple(asks), now)
                while True:
                    event = await sub.get()
                    if isinstance(event, StreamClosed):
                        yield StreamStatus(False, event.reason, self._time.time_ns())
                        break
                    if isinstance(event, DepthEvent):
                        backoff.reset()
                        yield BookDiff(
                            symbol,
                            event.first_id,
                            event.last_id,
                            event.bids,
                            event.asks,
                            event.ts_ns,
                        )
            finally:
                self._venue.unsubscribe(sub)
            await self._time.sleep(backoff.next_delay())

    # ------------------------------------------------------------------ orders
    async def create_order(self, request: OrderRequest) -> Order:
        order_type = LIMIT_MAKER if request.post_only else LIMIT

        def place() -> OrderReport:
            self._venue.charge_order(self.account)
            report, _ = self._venue.place(
                self.account,
                request.symbol,
                request.side,
                request.price,
                request.qty,
                request.client_order_id,
                order_type,
                GTC,
            )
            return report

        report = await self._request(1, True, f"create {request.client_order_id}", place)
        return order_of(report)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        report = await self._request(
            1,
            True,
            f"cancel {client_order_id}",
            lambda: self._venue.cancel(self.account, symbol, client_order_id=client_order_id),
        )
        return order_of(report)

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        report = await self._request(
            4,
            False,
            f"order {client_order_id}",
            lambda: self._venue.order(self.account, symbol, client_order_id=client_order_id),
        )
        return order_of(report)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        reports = await self._request(
            6 if symbol else 80,
            False,
            "openOrders",
            lambda: self._venue.open_orders(self.account, symbol),
        )
        return [order_of(r) for r in reports]

    async def fetch_fills(
        self, symbol: str, after: str | None = None, limit: int = 500
    ) -> list[Fill]:
        from_id = int(after) + 1 if after is not None else None
        rows = await self._request(
            20,
            False,
            f"myTrades {symbol}",
            lambda: self._venue.my_trades(self.account, symbol, from_id=from_id, limit=limit),
        )
        return [self._fill(row) for row in rows]

    def _fill(self, row: AccountTrade) -> Fill:
        trade = row.trade
        return Fill(
            exchange=self.exchange_id,
            account=self.account,
            symbol=trade.symbol,
            trade_id=str(trade.trade_id),
            order_id=str(row.order.order_id),
            client_order_id=row.order.client_order_id,
            side=row.order.side,
            price=trade.price,
            qty=trade.qty,
            quote_qty=trade.quote_qty,
            fee=row.commission,
            fee_asset=row.commission_asset,
            is_maker=row.is_maker,
            ts_ns=trade.ts_ns,
        )

    async def fetch_balances(self) -> dict[str, Balance]:
        raw = await self._request(20, False, "account", lambda: self._venue.balances(self.account))
        return {asset: Balance(asset, free, locked) for asset, (free, locked) in raw.items()}

    # ------------------------------------------------------------------ user stream
    async def watch_user(self, symbols: list[str] | None = None) -> AsyncIterator[UserEvent]:
        wanted = set(symbols) if symbols else None
        backoff = self._backoff()
        while True:
            sub = self._venue.subscribe("user", self.account)
            try:
                yield StreamStatus(True, "user stream subscribed", self._time.time_ns())
                while True:
                    event = await sub.get()
                    if isinstance(event, StreamClosed):
                        yield StreamStatus(False, event.reason, self._time.time_ns())
                        break
                    backoff.reset()
                    if isinstance(event, ExecutionEvent):
                        if wanted is not None and event.order.symbol not in wanted:
                            continue
                        if event.exec_type == "TRADE":
                            yield FillEvent(self._execution_fill(event))
                        yield OrderUpdate(order_of(event.order), event.ts_ns)
                    elif isinstance(event, AccountEvent):
                        yield BalanceUpdate(
                            {a: Balance(a, free, locked) for a, free, locked in event.balances},
                            event.ts_ns,
                        )
            finally:
                self._venue.unsubscribe(sub)
            await self._time.sleep(backoff.next_delay())

    def _execution_fill(self, event: ExecutionEvent) -> Fill:
        order = event.order
        return Fill(
            exchange=self.exchange_id,
            account=self.account,
            symbol=order.symbol,
            trade_id=str(event.trade_id),
            order_id=str(order.order_id),
            client_order_id=order.client_order_id,
            side=order.side,
            price=event.last_price,
            qty=event.last_qty,
            quote_qty=event.last_quote,
            fee=event.commission,
            fee_asset=event.commission_asset or "",
            is_maker=event.is_maker,
            ts_ns=event.ts_ns,
        )
