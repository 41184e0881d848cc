"""Shared pieces of the exchange tests: a simulated venue, its server, clients pointed at it,
a minimal local order book, and the connector scenarios every Connector must pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt.pro
import pytest
from pydantic import SecretStr

from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.exchange import CcxtConnector, Connector, ExchangeSettings
from hufimm.market import (
    BookDiff,
    BookMessage,
    BookSnapshot,
    ExchangeRejected,
    ExchangeRetryable,
    FillEvent,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    Side,
    StreamStatus,
)
from hufimm.sim.exchange import (
    SimAccount,
    SimConnector,
    SimExchange,
    SimExchangeServer,
    build_exchange,
)
from hufimm.sim.exchange.market import default_spec

T = TypeVar("T")
SYMBOL = "BTC/USDT"
MM = SimAccount("mm", "key-mm", "secret-mm", {"BTC": Decimal(10), "USDT": Decimal(1_000_000)})


def fast_market(symbol: str = SYMBOL, **overrides: Any) -> Any:
    """A busy market: frequent price moves and takers, so fills and diffs come quickly."""
    params: dict[str, Any] = {"price_interval_s": 0.2, "taker_rate_per_s": 10.0}
    params.update(overrides)
    return default_spec(symbol, **params)


def make_venue(time_source: TimeSource, seed: int = 11, **config: Any) -> SimExchange:
    return build_exchange(time_source, seed, [fast_market()], [MM], **config)


@contextlib.asynccontextmanager
async def serving(venue: SimExchange) -> AsyncIterator[SimExchangeServer]:
    await venue.start()
    server = SimExchangeServer(venue)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await venue.stop()


def point_ccxt(exchange: Any, server: SimExchangeServer) -> None:
    """The URL rewrites of reference §1.2: every REST URL to the server, keeping its path."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, str) and node.startswith("http"):
            return server.base_url + urlsplit(node).path
        return node

    api = exchange.urls["api"]
    for key in list(api):
        if key != "ws":
            api[key] = rewrite(api[key])
    api["ws"]["spot"] = server.ws_url
    api["ws"]["ws-api"]["spot"] = server.ws_api_url


def unmodified_binance(
    server: SimExchangeServer, account: SimAccount = MM, secret: str | None = None, **config: Any
) -> Any:
    exchange = ccxt.pro.binance(
        {
            "apiKey": account.api_key,
            "secret": secret or account.secret,
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            },
            **config,
        }
    )
    point_ccxt(exchange, server)
    return exchange


def connector_settings(
    server: SimExchangeServer, account: SimAccount = MM, **overrides: Any
) -> ExchangeSettings:
    return ExchangeSettings(
        api_key=SecretStr(account.api_key),
        secret=SecretStr(account.secret),
        account=account.name,
        rest_url=server.base_url,
        ws_url=f"ws://{server.host}:{server.port}",
        **overrides,
    )


class LocalBook:
    """A book rebuilt from a connector's messages, checking update ids like a tracker does."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.gaps = 0
        self.stale_diffs = 0
        self.applied = 0
        self.snapshots = 0
        self.outages = 0
        self.refused = 0

    def apply(self, message: BookMessage) -> bool:
        """Apply; ``False`` when a gap means the book needs a fresh snapshot."""
        if isinstance(message, StreamStatus):
            if not message.up:
                self.outages += 1
                self.seq = None
            return True
        if isinstance(message, BookSnapshot):
            self.snapshots += 1
            self.seq = message.seq
            self.bids = dict(message.bids)
            self.asks = dict(message.asks)
            return True
        assert isinstance(message, BookDiff)
        if self.seq is None:
            return False
        if message.last_seq <= self.seq:
            self.stale_diffs += 1
            return True
        if message.first_seq > self.seq + 1:
            self.gaps += 1
            self.seq = None
            return False
        for levels, side in ((message.bids, self.bids), (message.asks, self.asks)):
            for price, qty in levels:
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.seq = message.last_seq
        self.applied += 1
        return True

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


async def book_scenario(
    conn: Connector,
    venue: SimExchange,
    diffs: int,
    checkpoints: int,
) -> LocalBook:
    """Follow the book across ``diffs`` applied diffs (virtual time).  At each checkpoint the
    market pauses, the venue flushes, the reader drains its stream — resynchronising from a
    snapshot if the stream lost the end — and the local book must equal the venue's."""
    book = LocalBook()
    queue: asyncio.Queue[BookMessage] = asyncio.Queue()

    async def consume() -> None:
        async for message in conn.watch_book(SYMBOL):
            queue.put_nowait(message)

    async def resync() -> None:
        while True:
            try:
                snapshot = await conn.fetch_order_book(SYMBOL, 5000)
            except ExchangeRetryable as exc:
                book.refused += 1
                await venue.time.sleep(exc.retry_after or 0.5)
                continue
            book.apply(snapshot)
            return

    reader = asyncio.ensure_future(consume())
    try:
        every = diffs // checkpoints
        for checkpoint in range(1, checkpoints + 1):
            while book.applied < checkpoint * every:
                if not book.apply(await queue.get()):
                    await resync()
            await venue.pause_market()
            await venue.time.sleep(1.0)  # virtual: the venue publishes its last batch
            while not queue.empty():
                if not book.apply(queue.get_nowait()):
                    await resync()
            target = venue.engine.update_id(SYMBOL)
            while book.seq != target:
                await resync()  # the stream lost its tail, or the snapshot was stale
            seq, bids, asks = venue.engine.depth(SYMBOL)
            assert book.seq == seq == target
            assert book.levels() == (bids, asks)
            venue.resume_market()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return book


async def retrying(venue: SimExchange, call: Callable[[], Awaitable[T]]) -> T:
    """Retry a call while the (fault-injecting) venue answers "retryable"."""
    while True:
        try:
            return await call()
        except ExchangeRetryable as exc:
            await venue.time.sleep(exc.retry_after or 0.5)


@contextlib.asynccontextmanager
async def ccxt_connector(venue: SimExchange) -> AsyncIterator[Connector]:
    """Our ccxt connector against the venue's HTTP/WebSocket server."""
    async with serving(venue) as server:
        conn = CcxtConnector(connector_settings(server), venue.time, SeededRng(5))
        await retrying(venue, conn.start)
        try:
            yield conn
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def sim_connector(venue: SimExchange) -> AsyncIterator[Connector]:
    """The in-process connector."""
    await venue.start()
    try:
        conn = SimConnector(venue, MM.api_key)
        await retrying(venue, conn.start)
        yield conn
    finally:
        await venue.stop()


CONNECTORS = {"ccxt-over-server": ccxt_connector, "sim-in-process": sim_connector}


def run_with(
    kind: str, venue: SimExchange, scenario: Callable[[Connector, SimExchange], Awaitable[None]]
) -> None:
    """Run ``scenario`` with connector ``kind`` on ``venue`` in virtual time."""
    time_source = venue.time
    assert isinstance(time_source, VirtualTimeSource)

    async def main() -> None:
        async with CONNECTORS[kind](venue) as conn:
            assert isinstance(conn, Connector)
            await scenario(conn, venue)

    run_virtual(main(), time_source)


async def trading_scenario(conn: Connector, venue: SimExchange, deadline_s: float = 30.0) -> None:
    """What every connector must do against the simulated venue (no faults)."""
    rules = (await conn.load_markets())[SYMBOL]
    assert rules.tick_size == Decimal("0.01") and rules.step_size == Decimal("0.00001")
    book = await conn.fetch_order_book(SYMBOL, 10)
    best_bid, best_ask = book.bids[0][0], book.asks[0][0]
    assert best_bid < best_ask

    low = OrderRequest(
        SYMBOL,
        Side.BUY,
        best_bid - 100 * rules.tick_size,
        Decimal("0.001"),
        "hmm-low-1",
        post_only=True,
    )
    order = await conn.create_order(low)
    assert (order.client_order_id, order.status, order.price) == (
        "hmm-low-1",
        OrderStatus.NEW,
        low.price,
    )
    assert order.post_only
    with pytest.raises(ExchangeRejected) as duplicate:
        await conn.create_order(low)
    assert duplicate.value.reason is RejectReason.DUPLICATE_CLIENT_ID
    fetched = await conn.fetch_order(SYMBOL, "hmm-low-1")
    assert fetched.order_id == order.order_id and fetched.status is OrderStatus.NEW
    assert [o.client_order_id for o in await conn.fetch_open_orders(SYMBOL)] == ["hmm-low-1"]
    balances = await conn.fetch_balances()
    assert balances["USDT"].locked == low.price * low.qty

    crossing = OrderRequest(
        SYMBOL,
        Side.BUY,
        best_ask + 50 * rules.tick_size,
        Decimal("0.001"),
        "hmm-cross",
        post_only=True,
    )
    with pytest.raises(ExchangeRejected) as cross:
        await conn.create_order(crossing)
    assert cross.value.reason is RejectReason.POST_ONLY_WOULD_CROSS
    with pytest.raises(ExchangeRejected) as poor:
        await conn.create_order(
            OrderRequest(SYMBOL, Side.SELL, best_ask * 2, Decimal(1000), "hmm-big")
        )
    assert poor.value.reason is RejectReason.INSUFFICIENT_FUNDS
    with pytest.raises(ExchangeRejected) as filters:
        await conn.create_order(
            OrderRequest(
                SYMBOL, Side.BUY, best_bid - Decimal("0.001"), Decimal("0.001"), "hmm-tick"
            )
        )
    assert filters.value.reason is RejectReason.INVALID_ORDER

    canceled = await conn.cancel_order(SYMBOL, "hmm-low-1")
    assert canceled.status is OrderStatus.CANCELED
    with pytest.raises(ExchangeRejected) as again:
        await conn.cancel_order(SYMBOL, "hmm-low-1")
    assert again.value.reason is RejectReason.NOT_FOUND
    with pytest.raises(ExchangeRejected) as missing:
        await conn.fetch_order(SYMBOL, "hmm-never")
    assert missing.value.reason is RejectReason.NOT_FOUND
    assert await conn.fetch_open_orders(SYMBOL) == []

    before = await conn.fetch_balances()
    events = conn.watch_user([SYMBOL])
    try:
        first = await asyncio.wait_for(events.__anext__(), deadline_s)
        assert isinstance(first, StreamStatus) and first.up
        top = (await conn.fetch_order_book(SYMBOL, 5)).asks[0][0] - rules.tick_size
        qty = Decimal("0.002")
        await conn.create_order(OrderRequest(SYMBOL, Side.BUY, top, qty, "hmm-top-1"))
        fills: dict[str, FillEvent] = {}
        final = None

        async def until_filled() -> None:
            nonlocal final
            async for event in events:
                if isinstance(event, FillEvent) and event.fill.client_order_id == "hmm-top-1":
                    fills[event.fill.trade_id] = event
                if (
                    isinstance(event, OrderUpdate)
                    and event.order.client_order_id == "hmm-top-1"
                    and event.order.status is OrderStatus.FILLED
                    and sum(f.fill.qty for f in fills.values()) == qty
                ):
                    final = event.order
                    return

        await asyncio.wait_for(until_filled(), deadline_s)
    finally:
        await events.aclose()
    assert final is not None and final.filled_qty == qty
    rest_fills = await conn.fetch_fills(SYMBOL)
    ours = {f.trade_id: f for f in rest_fills if f.order_id == final.order_id}
    assert set(ours) == set(fills)
    for trade_id, event in fills.items():
        rest = ours[trade_id]
        assert (rest.price, rest.qty, rest.fee, rest.fee_asset, rest.side) == (
            event.fill.price,
            event.fill.qty,
            event.fill.fee,
            event.fill.fee_asset,
            Side.BUY,
        )
    last = max(rest_fills, key=lambda f: int(f.trade_id))
    assert await conn.fetch_fills(SYMBOL, after=last.trade_id) == []
    after = await conn.fetch_balances()
    received = sum((f.fill.qty - f.fill.fee for f in fills.values()), Decimal(0))
    assert after["BTC"].total == before["BTC"].total + received
    spent = sum((f.fill.quote_qty for f in fills.values()), Decimal(0))
    assert after["USDT"].total == before["USDT"].total - spent
