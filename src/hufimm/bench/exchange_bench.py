"""Benchmarks of the simulated exchange: matching throughput and the diff stream's rate."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal

import aiohttp

from hufimm.bench.harness import BenchOptions, Figure
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, RealTimeSource, Stopwatch, VirtualTimeSource
from hufimm.market import Side
from hufimm.sim.exchange import MatchingEngine, SimError, SimExchangeServer, build_exchange
from hufimm.sim.exchange.engine import GTC, IOC, LIMIT
from hufimm.sim.exchange.market import default_spec


def run_matching(options: BenchOptions) -> list[Figure]:
    """Orders/s through the matching engine: resting makers and crossing IOC takers (3:1)."""
    orders = 20_000 if options.quick else 200_000
    spec = default_spec("BTC/USDT")
    engine = MatchingEngine(VirtualTimeSource())
    engine.add_symbol(spec.rules)
    for account in ("maker", "taker"):
        engine.deposit(account, "BTC", Decimal(10) ** 9)
        engine.deposit(account, "USDT", Decimal(10) ** 12)
    rng = SeededRng(1)
    tick = spec.rules.tick_size
    plan = []
    for i in range(orders):
        side = Side.BUY if rng.chance(0.5) else Side.SELL
        offset = rng.randint(1, 50)
        if i % 4 == 3:
            price = Decimal(60_000) + (60 if side is Side.BUY else -60) * tick * 10
            plan.append(("taker", side, price, Decimal("0.05"), IOC))
        else:
            price = Decimal(60_000) + (-offset if side is Side.BUY else offset) * tick * 10
            plan.append(("maker", side, price, Decimal("0.02"), GTC))
    watch = Stopwatch()
    for i, (account, side, price, qty, tif) in enumerate(plan):
        with contextlib.suppress(SimError):  # a crossing order may find nothing left to take
            engine.place(account, "BTC/USDT", side, price, qty, f"c{i}", LIMIT, tif)
    seconds = watch.elapsed_ns() / NS_PER_SECOND
    return [
        Figure("exchange", "matching engine, 1 symbol", "orders", orders / seconds, "orders/s"),
        Figure(
            "exchange",
            "matching engine, 1 symbol",
            "trades",
            engine.trade_count / seconds,
            "trades/s",
        ),
    ]


def run_diff_stream(options: BenchOptions) -> list[Figure]:
    """Diffs/s a WebSocket client sustains from the server's ``/ws`` depth stream (loopback)."""
    return [asyncio.run(_diff_stream(1.0 if options.quick else 5.0))]


async def _diff_stream(seconds: float) -> Figure:
    time_source = RealTimeSource()
    venue = build_exchange(time_source, 1, ["BTC/USDT"], run_market=False)
    server = SimExchangeServer(venue)
    await venue.start()
    await server.start()
    received = 0
    produced = 0
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            await ws.send_str(
                json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1})
            )
            await ws.receive()  # the subscription's answer

            async def produce() -> None:
                # Each diff: one resting order placed or cancelled, then published at once.
                # At most 500 diffs in flight, so the figure is what the client keeps up with.
                nonlocal produced
                i = 0
                while True:
                    if produced - received > 500:
                        await asyncio.sleep(0)
                        continue
                    price = Decimal(59_000) + Decimal(i % 100)
                    cid = f"b{i % 200}"
                    try:
                        venue.place(
                            "market:liquidity", "BTC/USDT", Side.BUY, price, Decimal("0.01"), cid
                        )
                    except SimError:
                        venue.cancel("market:liquidity", "BTC/USDT", client_order_id=cid)
                    venue.flush_depth()
                    produced += 1
                    i += 1
                    if i % 50 == 0:
                        await asyncio.sleep(0)

            producer = asyncio.ensure_future(produce())
            watch = Stopwatch()
            while watch.elapsed_ns() < seconds * NS_PER_SECOND:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    received += 1
            elapsed = watch.elapsed_ns() / NS_PER_SECOND
            producer.cancel()
    finally:
        await server.stop()
        await venue.stop()
    return Figure(
        "exchange", "server /ws diff stream, loopback", "consumed", received / elapsed, "msgs/s"
    )
