"""Unmodified ccxt (``ccxt.pro.binance`` with only its URLs pointed at the simulated exchange)
against the Binance-compatible server.

Signed calls carry ccxt's wall-clock timestamps, so those tests run the venue in real time and
wait on conditions (the venue's state, stream events), never on fixed sleeps.  The long
order-book test uses only public endpoints and runs in virtual time.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.pro
import pytest

from hufimm.core.timesource import RealTimeSource, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.sim.exchange import VenueLimits
from tests.exchange.harness import MM, SYMBOL, make_venue, serving, unmodified_binance

D = Decimal


async def test_unmodified_ccxt_trades_against_the_server() -> None:
    venue = make_venue(RealTimeSource())
    async with serving(venue) as server:
        ex = unmodified_binance(server)
        try:
            markets = await ex.load_markets()
            assert set(markets) == {SYMBOL}
            market = markets[SYMBOL]
            assert (market["precision"]["price"], market["precision"]["amount"]) == (0.01, 0.00001)
            assert market["limits"]["cost"]["min"] == 5

            book = await ex.fetch_order_book(SYMBOL)
            assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0
            bid = book["bids"][0][0] - 1

            order = await ex.create_order(
                SYMBOL, "limit", "buy", 0.001, bid, {"clientOrderId": "ccxt-1"}
            )
            assert (order["clientOrderId"], order["status"]) == ("ccxt-1", "open")
            with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
                await ex.create_order(
                    SYMBOL, "limit", "buy", 0.001, bid, {"clientOrderId": "ccxt-1"}
                )
            fetched = await ex.fetch_order(None, SYMBOL, {"clientOrderId": "ccxt-1"})
            assert fetched["id"] == order["id"] and fetched["status"] == "open"
            assert [o["clientOrderId"] for o in await ex.fetch_open_orders(SYMBOL)] == ["ccxt-1"]
            balance = await ex.fetch_balance()
            assert balance["USDT"]["used"] == pytest.approx(0.001 * bid)
            canceled = await ex.cancel_order(None, SYMBOL, {"clientOrderId": "ccxt-1"})
            assert canceled["status"] == "canceled"
            assert await ex.fetch_open_orders(SYMBOL) == []
            with pytest.raises(ccxt.OrderNotFound):
                await ex.cancel_order(None, SYMBOL, {"clientOrderId": "ccxt-1"})

            # A bid just under the best ask: the market's sell takers fill it.
            orders_watch = asyncio.ensure_future(_until_closed(ex, "ccxt-top"))
            trades_watch = asyncio.ensure_future(_my_trades(ex, D("0.002")))
            # Wait until ccxt listens for both (its futures exist) and the venue publishes to it.
            wanted = {f"orders:{SYMBOL}", f"myTrades:{SYMBOL}"}
            await _until(
                lambda: wanted <= set(getattr(ex.clients.get(server.ws_api_url), "futures", ()))
            )
            await _until(lambda: venue.subscribers("user", "mm") > 0)
            top = (await ex.fetch_order_book(SYMBOL))["asks"][0][0] - 0.01
            placed = await ex.create_order(
                SYMBOL, "limit", "buy", 0.002, top, {"clientOrderId": "ccxt-top"}
            )
            closed = await asyncio.wait_for(orders_watch, 30)
            ws_trades = await asyncio.wait_for(trades_watch, 30)
            assert closed["id"] == placed["id"] and closed["filled"] == pytest.approx(0.002)
            assert {t["order"] for t in ws_trades} == {placed["id"]}
            rest_trades = await ex.fetch_my_trades(SYMBOL)
            assert {t["id"] for t in ws_trades} <= {t["id"] for t in rest_trades}
            venue_ids = {row.trade.trade_id for row in venue.engine.account_trades("mm", SYMBOL)}
            assert {int(t["id"]) for t in rest_trades} == venue_ids
            balance = await ex.fetch_balance()
            free, locked = venue.balances("mm")["BTC"]
            assert balance["BTC"]["total"] == pytest.approx(float(free + locked))
        finally:
            await ex.close()


async def _until(condition: object, timeout: float = 10.0) -> None:
    """Poll a condition on the event loop (yielding between checks), bounded in time."""
    assert callable(condition)

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)  # a poll interval, not a wait for something to happen

    await asyncio.wait_for(poll(), timeout)


async def _until_closed(ex: object, client_id: str) -> dict[str, object]:
    while True:
        for order in await ex.watch_orders(SYMBOL):  # type: ignore[attr-defined]
            if order["clientOrderId"] == client_id and order["status"] == "closed":
                return dict(order)


async def _my_trades(ex: object, qty: Decimal) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    while sum(D(str(t["amount"])) for t in seen.values()) < qty:
        for trade in await ex.watch_my_trades(SYMBOL):  # type: ignore[attr-defined]
            seen[str(trade["id"])] = dict(trade)
    return list(seen.values())


async def test_wrong_secret_is_rejected() -> None:
    venue = make_venue(RealTimeSource())
    async with serving(venue) as server:
        ex = unmodified_binance(server, secret="not-the-secret")
        try:
            await ex.load_markets()
            with pytest.raises(ccxt.ExchangeError, match="-1022"):
                await ex.fetch_balance()
            with pytest.raises(ccxt.ExchangeError, match="-1022"):
                await ex.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "x1"})
            assert venue.open_orders("mm") == []
        finally:
            await ex.close()


async def test_weight_limit_answers_429_with_retry_after() -> None:
    venue = make_venue(RealTimeSource(), limits=VenueLimits(request_weight_per_minute=60))
    async with serving(venue) as server:
        ex = unmodified_binance(server, enableRateLimit=False)
        try:
            await ex.load_markets()  # exchangeInfo: weight 20
            answers = 0
            with pytest.raises(ccxt.DDoSProtection, match="429"):  # noqa: PT012
                while answers < 20:
                    await ex.fetch_order_book(SYMBOL, 100)  # weight 5
                    answers += 1
            assert answers == 8  # 20 + 8 * 5 = 60, the limit
            headers = {k.lower(): v for k, v in ex.last_response_headers.items()}
            assert 1 <= int(headers["retry-after"]) <= 60
            assert int(headers["x-mbx-used-weight-1m"]) >= 55
        finally:
            await ex.close()


@pytest.mark.slow
def test_unmodified_ccxt_book_equals_the_servers_across_thousands_of_diffs() -> None:
    time_source = VirtualTimeSource()
    venue = make_venue(time_source)

    async def main() -> None:
        async with serving(venue) as server:
            # ccxt's own throttle runs on the wall clock; public market data needs none here.
            ex = unmodified_binance(server, enableRateLimit=False)
            try:
                checkpoints = 0
                diffs = 0
                last_nonce = None
                while checkpoints < 5:
                    book = await ex.watch_order_book(SYMBOL)
                    if last_nonce is not None and book["nonce"] != last_nonce:
                        diffs += 1
                    last_nonce = book["nonce"]
                    if diffs >= (checkpoints + 1) * 500:
                        await venue.pause_market()
                        target = venue.engine.update_id(SYMBOL)
                        while ex.orderbooks[SYMBOL]["nonce"] < target:
                            await ex.watch_order_book(SYMBOL)
                        seq, bids, asks = venue.engine.depth(SYMBOL)
                        ours = ex.orderbooks[SYMBOL]
                        assert ours["nonce"] == seq
                        assert [(D(repr(p)), D(repr(q))) for p, q in ours["bids"]] == bids
                        assert [(D(repr(p)), D(repr(q))) for p, q in ours["asks"]] == asks
                        checkpoints += 1
                        venue.resume_market()
                assert diffs >= 2500
            finally:
                await ex.close()

    run_virtual(main(), time_source)
    assert MM.name == "mm"
