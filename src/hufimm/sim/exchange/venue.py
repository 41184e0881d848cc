"""The simulated exchange as a whole: engine, market, accounts, limits, faults and streams.

Both faces of the simulation use this object: the Binance-compatible server
(:mod:`hufimm.sim.exchange.server`) and the in-process :class:`SimConnector`.  It turns engine
callbacks into immutable events and fans them out to subscriptions: depth diffs are batched
every ``depth_interval_s`` (like ``@depth@100ms``) with the update ids they cover; trades and
user events go out as they happen.  Stream faults apply per subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from hufimm.core.logs import get_logger
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, TimeSource
from hufimm.market import Side, TradingRules
from hufimm.sim.exchange.engine import (
    GTC,
    LIMIT,
    AccountTrade,
    FeeSchedule,
    MatchingEngine,
    SimError,
    SimOrder,
    SimTrade,
)
from hufimm.sim.exchange.events import (
    AccountEvent,
    DepthEvent,
    ExecutionEvent,
    OrderReport,
    StreamClosed,
    StreamEvent,
    TradeEvent,
)
from hufimm.sim.exchange.faults import FaultConfig, FaultInjector
from hufimm.sim.exchange.market import LIQUIDITY_ACCOUNT, TAKER_ACCOUNT, MarketSpec, SimMarket

_log = get_logger("sim.exchange")

#: Background participants never run out of money.
_MARKET_FUNDS = Decimal(10) ** 12


@dataclass(frozen=True)
class SimAccount:
    name: str
    api_key: str
    secret: str
    balances: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class VenueLimits:
    """What the venue enforces and publishes in ``exchangeInfo.rateLimits``."""

    request_weight_per_minute: int = 6000
    orders_per_10s: int = 50
    orders_per_day: int = 160_000
    ban_after_429s: int = 20  # requests refused with 429 in one window before a 418 ban
    ban_seconds: int = 120


@dataclass(frozen=True)
class VenueConfig:
    markets: list[MarketSpec]
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    limits: VenueLimits = field(default_factory=VenueLimits)
    faults: FaultConfig = field(default_factory=FaultConfig)
    depth_interval_s: float = 0.1
    latency_s: float = 0.0
    run_market: bool = True
    name: str = "simex"


class Subscription:
    """One subscriber's queue of stream events, with that subscriber's stream faults."""

    def __init__(self, venue: SimExchange, channel: tuple[str, str], faulty: bool) -> None:
        self._venue = venue
        self.channel = channel
        self.faulty = faulty
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._held: StreamEvent | None = None
        self.closed = False
        self.delivered = 0

    def deliver(self, event: StreamEvent) -> None:
        if self.closed:
            return
        faults = self._venue.faults
        if self.faulty:
            if faults.fires("disconnect"):
                self.close("disconnect (fault injection)")
                return
            if faults.fires("drop"):
                return
            if self._held is None and faults.fires("reorder"):
                self._held = event
                return
            copies = 2 if faults.fires("dup") else 1
        else:
            copies = 1
        for _ in range(copies):
            self.queue.put_nowait(event)
            self.delivered += 1
        if self._held is not None:
            held, self._held = self._held, None
            self.queue.put_nowait(held)
            self.delivered += 1

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(StreamClosed(reason))
            self._venue._forget(self)

    async def get(self) -> StreamEvent:
        return await self.queue.get()


class _RequestMeter:
    """Fixed one-minute windows of request weight per client, like Binance's per-IP count."""

    def __init__(self) -> None:
        self.window = -1
        self.used: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.banned_until_ns: dict[str, int] = {}


class SimExchange:
    """The simulated venue; see the module docstring."""

    def __init__(self, config: VenueConfig, time_source: TimeSource, rng: SeededRng) -> None:
        self.config = config
        self.time = time_source
        self.rng = rng
        self.faults = FaultInjector(config.faults, rng.child("faults"))
        self.engine = MatchingEngine(time_source, config.fees, listener=self)
        for spec in config.markets:
            self.engine.add_symbol(spec.rules)
        self.market = SimMarket(
            config.markets,
            time_source,
            rng.child("market"),
            self._market_place,
            self._market_cancel,
        )
        self._accounts: dict[str, SimAccount] = {}
        self._by_key: dict[str, SimAccount] = {}
        self._subs: dict[tuple[str, str], list[Subscription]] = {}
        self._pending_depth: dict[str, dict[tuple[Side, Decimal], Decimal]] = {}
        self._pending_first: dict[str, int] = {}
        self._history: dict[
            str, deque[tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]]
        ] = {s: deque(maxlen=30) for s in self.engine.symbols}
        self._dirty_balances: dict[str, set[str]] = {}
        self._depth_dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._market_task: asyncio.Task[None] | None = None
        self._meter = _RequestMeter()
        self._orders_10s: dict[str, tuple[int, int]] = {}
        self._orders_day: dict[str, tuple[int, int]] = {}
        self.published_diffs = 0
        for name in (LIQUIDITY_ACCOUNT, TAKER_ACCOUNT):
            for spec in config.markets:
                self.engine.deposit(name, spec.rules.base, _MARKET_FUNDS)
                self.engine.deposit(name, spec.rules.quote, _MARKET_FUNDS)
        self._dirty_balances.clear()

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        """Start the depth publisher and (unless disabled) the market."""
        loop = asyncio.get_running_loop()
        self._depth_dirty = asyncio.Event()
        if any(self._pending_depth.values()):
            self._depth_dirty.set()
        self._tasks.append(loop.create_task(self._publish_depth_loop(), name="sim-depth"))
        self.market.start()  # the initial liquidity is there the moment the venue is
        self._flush_balances()
        if self.config.run_market:
            self.resume_market()

    async def pause_market(self) -> None:
        """Stop the background participants (the book stands still; trading still works)."""
        task = self._market_task
        self._market_task = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._tasks.remove(task)

    def resume_market(self) -> None:
        if self._market_task is None:
            self._market_task = asyncio.get_running_loop().create_task(self.market.run())
            self._tasks.append(self._market_task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._market_task = None
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close("venue stopped")

    # ------------------------------------------------------------------ accounts
    def add_account(self, account: SimAccount) -> None:
        if account.name in self._accounts or account.api_key in self._by_key:
            raise ValueError(f"account {account.name} or its api key is already registered")
        self._accounts[account.name] = account
        self._by_key[account.api_key] = account
        for asset, amount in account.balances.items():
            self.engine.deposit(account.name, asset, amount)
        self._flush_balances()

    def account_by_key(self, api_key: str) -> SimAccount | None:
        return self._by_key.get(api_key)

    def account(self, name: str) -> SimAccount:
        return self._accounts[name]

    def rules(self) -> list[TradingRules]:
        return [spec.rules for spec in self.config.markets]

    def symbol_rules(self, symbol: str) -> TradingRules:
        return self.engine.rules(symbol)

    # ------------------------------------------------------------------ limits
    def charge_weight(self, client: str, weight: int) -> int:
        """Count ``weight`` for ``client`` in this minute; refuse with 429/418 beyond the limit."""
        now = self.time.time_ns()
        meter = self._meter
        window = now // (60 * NS_PER_SECOND)
        if window != meter.window:
            meter.window = window
            meter.used.clear()
            meter.refused.clear()
        limits = self.config.limits
        banned_until = meter.banned_until_ns.get(client, 0)
        if now < banned_until:
            retry = -(-(banned_until - now) // NS_PER_SECOND)
            raise SimError(
                -1003,
                f"Way too much request weight used; IP banned until {banned_until // 1_000_000}.",
                418,
                retry,
            )
        used = meter.used.get(client, 0)
        if used + weight > limits.request_weight_per_minute:
            refused = meter.refused[client] = meter.refused.get(client, 0) + 1
            if refused > limits.ban_after_429s:
                meter.banned_until_ns[client] = now + limits.ban_seconds * NS_PER_SECOND
                raise SimError(
                    -1003, "Way too much request weight used; IP banned.", 418, limits.ban_seconds
                )
            retry = -(-((window + 1) * 60 * NS_PER_SECOND - now) // NS_PER_SECOND)
            raise SimError(
                -1003,
                "Too much request weight used; current limit is "
                f"{limits.request_weight_per_minute} request weight per 1 MINUTE. "
                "Please use WebSocket Streams for live updates to avoid polling the API.",
                429,
                max(1, retry),
            )
        meter.used[client] = used + weight
        return used + weight

    def used_weight(self, client: str) -> int:
        window = self.time.time_ns() // (60 * NS_PER_SECOND)
        return self._meter.used.get(client, 0) if window == self._meter.window else 0

    def charge_order(self, account: str) -> tuple[int, int]:
        """Count one new order for ``account``; ``-1015`` beyond the 10 s or daily limit."""
        now = self.time.time_ns()
        limits = self.config.limits
        counts = []
        for store, span_s, limit, label in (
            (self._orders_10s, 10, limits.orders_per_10s, "10 SECOND"),
            (self._orders_day, 86_400, limits.orders_per_day, "1 DAY"),
        ):
            window = now // (span_s * NS_PER_SECOND)
            current_window, count = store.get(account, (window, 0))
            if current_window != window:
                count = 0
            if count + 1 > limit:
                retry = -(-((window + 1) * span_s * NS_PER_SECOND - now) // NS_PER_SECOND)
                raise SimError(
                    -1015,
                    f"Too many new orders; current limit is {limit} orders per {label}.",
                    429,
                    max(1, retry),
                )
            counts.append((store, window, count + 1))
        for store, window, count in counts:
            store[account] = (window, count)
        return counts[0][2], counts[1][2]

    # ------------------------------------------------------------------ trading
    def place(
        self,
        account: str,
        symbol: str,
        side: Side,
        price: Decimal,
        qty: Decimal,
        client_order_id: str,
        order_type: str = LIMIT,
        tif: str = GTC,
    ) -> tuple[OrderReport, list[AccountTrade]]:
        try:
            order, trades = self.engine.place(
                account, symbol, side, price, qty, client_order_id, order_type, tif
            )
        finally:
            self._flush_balances()
        mine = [AccountTrade(t, order, False) for t in trades]
        return OrderReport.of(order), mine

    def cancel(
        self,
        account: str,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        cancel_client_id: str = "",
    ) -> OrderReport:
        try:
            order = self.engine.cancel(account, symbol, order_id, client_order_id, cancel_client_id)
        finally:
            self._flush_balances()
        return OrderReport.of(order)

    def order(
        self,
        account: str,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        return OrderReport.of(self.engine.find_order(account, symbol, order_id, client_order_id))

    def open_orders(self, account: str, symbol: str | None = None) -> list[OrderReport]:
        if symbol is not None:
            self.engine.rules(symbol)
        return [OrderReport.of(o) for o in self.engine.open_orders(account, symbol)]

    def my_trades(
        self,
        account: str,
        symbol: str,
        from_id: int | None = None,
        order_id: int | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 500,
    ) -> list[AccountTrade]:
        self.engine.rules(symbol)
        rows = self.engine.account_trades(account, symbol)
        out = []
        for row in rows:
            trade = row.trade
            if from_id is not None and trade.trade_id < from_id:
                continue
            if order_id is not None and row.order.order_id != order_id:
                continue
            if start_ns is not None and trade.ts_ns < start_ns:
                continue
            if end_ns is not None and trade.ts_ns > end_ns:
                continue
            out.append(row)
        if from_id is None and start_ns is None:
            return out[-limit:]
        return out[:limit]

    def balances(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        return self.engine.balances(account)

    def depth(
        self, symbol: str, limit: int | None = None
    ) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The book now, or (stale fault) as it was some diffs ago, with its own update id."""
        self.engine.rules(symbol)
        history = self._history[symbol]
        if history and self.faults.fires("stale"):
            update_id, bids, asks = history[0]
            return update_id, bids[:limit] if limit else bids, asks[:limit] if limit else asks
        return self.engine.depth(symbol, limit)

    def _market_place(
        self,
        account: str,
        symbol: str,
        side: Side,
        price: Decimal,
        qty: Decimal,
        cid: str,
        tif: str,
    ) -> SimOrder:
        try:
            order, _ = self.engine.place(account, symbol, side, price, qty, cid, LIMIT, tif)
        finally:
            self._flush_balances()
        return order

    def _market_cancel(self, account: str, symbol: str, order_id: int) -> None:
        try:
            self.engine.cancel(account, symbol, order_id=order_id)
        finally:
            self._flush_balances()

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, kind: str, key: str, faulty: bool = True) -> Subscription:
        """``kind`` is ``depth`` or ``trade`` (key: symbol) or ``user`` (key: account)."""
        if kind in ("depth", "trade"):
            self.engine.rules(key)
        elif kind != "user":
            raise ValueError(f"unknown channel {kind}")
        sub = Subscription(self, (kind, key), faulty)
        self._subs.setdefault((kind, key), []).append(sub)
        return sub

    def subscribers(self, kind: str, key: str) -> int:
        return len(self._subs.get((kind, key), ()))

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        self._forget(sub)

    def _forget(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs and sub in subs:
            subs.remove(sub)

    def _publish(self, channel: tuple[str, str], event: StreamEvent) -> None:
        for sub in list(self._subs.get(channel, ())):
            sub.deliver(event)

    # ------------------------------------------------------------------ engine listener
    def on_order(self, order: SimOrder, exec_type: str, trade: SimTrade | None) -> None:
        if ("user", order.account) not in self._subs:
            return
        now = self.time.time_ns()
        if trade is None:
            event = ExecutionEvent(order.account, OrderReport.of(order), exec_type, now)
        else:
            is_maker = trade.maker is order
            event = ExecutionEvent(
                order.account,
                OrderReport.of(order),
                exec_type,
                now,
                trade_id=trade.trade_id,
                last_qty=trade.qty,
                last_price=trade.price,
                last_quote=trade.quote_qty,
                commission=trade.maker_fee if is_maker else trade.taker_fee,
                commission_asset=trade.maker_fee_asset if is_maker else trade.taker_fee_asset,
                is_maker=is_maker,
            )
        self._publish(("user", order.account), event)

    def on_trade(self, trade: SimTrade) -> None:
        if ("trade", trade.symbol) in self._subs:
            self._publish(("trade", trade.symbol), TradeEvent.of(trade))

    def on_depth(self, symbol: str, side: Side, price: Decimal, qty: Decimal) -> None:
        pending = self._pending_depth.setdefault(symbol, {})
        if not pending:
            self._pending_first[symbol] = self.engine.update_id(symbol)
        pending[(side, price)] = qty
        self._depth_dirty.set()

    def on_balances(self, account: str, assets: set[str]) -> None:
        self._dirty_balances.setdefault(account, set()).update(assets)

    def _flush_balances(self) -> None:
        dirty, self._dirty_balances = self._dirty_balances, {}
        now = self.time.time_ns()
        for account, assets in dirty.items():
            if ("user", account) not in self._subs:
                continue
            balances = self.engine.balances(account)
            rows = tuple((a, *balances.get(a, (Decimal(0), Decimal(0)))) for a in sorted(assets))
            self._publish(("user", account), AccountEvent(account, rows, now))

    # ------------------------------------------------------------------ depth publishing
    async def _publish_depth_loop(self) -> None:
        interval = self.config.depth_interval_s
        while True:
            await self._depth_dirty.wait()
            now = self.time.time_ns()
            step = round(interval * NS_PER_SECOND)
            # Publish on the interval grid, like a venue's 100 ms batches.
            wait_ns = step - now % step
            await self.time.sleep(wait_ns / NS_PER_SECOND)
            self._depth_dirty.clear()
            self.flush_depth()

    def flush_depth(self) -> None:
        """Publish one diff per symbol with pending changes (also callable directly in tests)."""
        now = self.time.time_ns()
        for symbol in list(self._pending_depth):
            pending = self._pending_depth[symbol]
            if not pending:
                continue
            self._pending_depth[symbol] = {}
            bids = tuple(
                sorted(((p, q) for (s, p), q in pending.items() if s is Side.BUY), reverse=True)
            )
            asks = tuple(sorted((p, q) for (s, p), q in pending.items() if s is Side.SELL))
            event = DepthEvent(
                symbol, self._pending_first[symbol], self.engine.update_id(symbol), bids, asks, now
            )
            self.published_diffs += 1
            if self.config.faults.stale > 0:
                update_id, all_bids, all_asks = self.engine.depth(symbol)
                self._history[symbol].append((update_id, all_bids, all_asks))
            self._publish(("depth", symbol), event)
            if self.faults.fires("gap"):
                self.engine.skip_update_ids(symbol, 1)

    def symbols(self) -> Iterable[str]:
        return self.engine.symbols
