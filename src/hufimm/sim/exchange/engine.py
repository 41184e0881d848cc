"""The simulated venue's matching engine.

Price-time priority per symbol; limit orders (GTC, IOC) and LIMIT_MAKER; trading rules enforced
with Binance's error codes; maker/taker fees charged in the asset received and credited to the
venue's fee account (so every asset is conserved exactly); balances with funds reserved by open
orders; client order ids unique among an account's open orders of a symbol.

The engine is synchronous and knows nothing of the network: it reports what happened to a
:class:`EngineListener` (the venue fans that out to streams) and returns results to the caller.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from hufimm.core.money import MONEY_CONTEXT
from hufimm.core.timesource import TimeSource
from hufimm.market import Side, TradingRules

ZERO = Decimal(0)
COMMISSION_STEP = Decimal("0.00000001")

#: Binance order statuses.
NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED = (
    "NEW",
    "PARTIALLY_FILLED",
    "FILLED",
    "CANCELED",
    "EXPIRED",
)
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})

LIMIT, LIMIT_MAKER = "LIMIT", "LIMIT_MAKER"
GTC, IOC = "GTC", "IOC"


class SimError(Exception):
    """A refusal in Binance's words: ``{code, msg}`` and the HTTP status to answer with."""

    def __init__(
        self, code: int, msg: str, http_status: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.retry_after = retry_after


DUPLICATE = "Duplicate order sent."
INSUFFICIENT = "Account has insufficient balance for requested action."
WOULD_TAKE = "Order would immediately match and take."


@dataclass(slots=True)
class SimOrder:
    symbol: str
    order_id: int
    client_order_id: str
    account: str
    side: Side
    type: str
    tif: str
    price: Decimal
    qty: Decimal
    created_ns: int
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = NEW
    updated_ns: int = 0
    #: The client id of the cancel request that ended the order (Binance reports it as ``c``).
    cancel_client_id: str = ""

    @property
    def remaining(self) -> Decimal:
        return MONEY_CONTEXT.subtract(self.qty, self.executed)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One match.  Both sides see the same ``trade_id``."""

    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    ts_ns: int
    maker: SimOrder
    taker: SimOrder
    maker_fee: Decimal
    maker_fee_asset: str
    taker_fee: Decimal
    taker_fee_asset: str

    @property
    def buyer_is_maker(self) -> bool:
        return self.maker.side is Side.BUY


@dataclass(frozen=True, slots=True)
class AccountTrade:
    """A trade as one account sees it (``myTrades`` row)."""

    trade: SimTrade
    order: SimOrder
    is_maker: bool

    @property
    def commission(self) -> Decimal:
        return self.trade.maker_fee if self.is_maker else self.trade.taker_fee

    @property
    def commission_asset(self) -> str:
        return self.trade.maker_fee_asset if self.is_maker else self.trade.taker_fee_asset


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")


class EngineListener(Protocol):
    def on_order(self, order: SimOrder, exec_type: str, trade: SimTrade | None) -> None: ...

    def on_trade(self, trade: SimTrade) -> None: ...

    def on_depth(self, symbol: str, side: Side, price: Decimal, qty: Decimal) -> None: ...

    def on_balances(self, account: str, assets: set[str]) -> None: ...


@dataclass
class _BookSide:
    """Price levels of one side: FIFO queues plus an ascending price index."""

    side: Side
    prices: list[Decimal] = field(default_factory=list)
    queues: dict[Decimal, deque[SimOrder]] = field(default_factory=dict)
    level_qty: dict[Decimal, Decimal] = field(default_factory=dict)

    def best(self) -> Decimal | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.side is Side.BUY else self.prices[0]

    def crosses(self, taker_side: Side, limit: Decimal) -> bool:
        """Would a taker on ``taker_side`` at ``limit`` trade with this side's best level?"""
        best = self.best()
        if best is None:
            return False
        return best <= limit if taker_side is Side.BUY else best >= limit

    def add(self, order: SimOrder) -> Decimal:
        price = order.price
        queue = self.queues.get(price)
        if queue is None:
            queue = self.queues[price] = deque()
            bisect.insort(self.prices, price)
            self.level_qty[price] = ZERO
        queue.append(order)
        self.level_qty[price] = MONEY_CONTEXT.add(self.level_qty[price], order.remaining)
        return self.level_qty[price]

    def reduce(self, price: Decimal, qty: Decimal) -> Decimal:
        new = MONEY_CONTEXT.subtract(self.level_qty[price], qty)
        self.level_qty[price] = new
        return new

    def remove(self, order: SimOrder) -> Decimal:
        queue = self.queues[order.price]
        queue.remove(order)
        new = self.reduce(order.price, order.remaining)
        if not queue:
            self._drop(order.price)
        return new

    def _drop(self, price: Decimal) -> None:
        del self.queues[price]
        del self.level_qty[price]
        index = bisect.bisect_left(self.prices, price)
        del self.prices[index]

    def levels(self, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        ordered = reversed(self.prices) if self.side is Side.BUY else iter(self.prices)
        out = []
        for price in ordered:
            out.append((price, self.level_qty[price]))
            if limit is not None and len(out) >= limit:
                break
        return out

    def orders_best_first(self) -> Iterator[SimOrder]:
        ordered = reversed(self.prices) if self.side is Side.BUY else iter(self.prices)
        for price in ordered:
            yield from self.queues[price]


@dataclass
class _Market:
    rules: TradingRules
    bids: _BookSide = field(default_factory=lambda: _BookSide(Side.BUY))
    asks: _BookSide = field(default_factory=lambda: _BookSide(Side.SELL))
    update_id: int = 0
    order_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    trade_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def side(self, side: Side) -> _BookSide:
        return self.bids if side is Side.BUY else self.asks


class _Null:
    def on_order(self, order: SimOrder, exec_type: str, trade: SimTrade | None) -> None:
        return None

    def on_trade(self, trade: SimTrade) -> None:
        return None

    def on_depth(self, symbol: str, side: Side, price: Decimal, qty: Decimal) -> None:
        return None

    def on_balances(self, account: str, assets: set[str]) -> None:
        return None


class MatchingEngine:
    """Books, balances and trades of one simulated venue."""

    FEE_ACCOUNT = "venue:fees"

    def __init__(
        self,
        time_source: TimeSource,
        fees: FeeSchedule | None = None,
        listener: EngineListener | None = None,
    ) -> None:
        self._time = time_source
        self.fees = fees or FeeSchedule()
        self.listener: EngineListener = listener or _Null()
        self._markets: dict[str, _Market] = {}
        self._balances: dict[str, dict[str, list[Decimal]]] = {}
        self._orders: dict[tuple[str, int], SimOrder] = {}
        self._by_client: dict[tuple[str, str, str], SimOrder] = {}
        self._open_by_client: dict[tuple[str, str, str], SimOrder] = {}
        self._trades: dict[tuple[str, str], list[AccountTrade]] = {}
        self.trade_count = 0

    # ------------------------------------------------------------------ set-up and reading
    def add_symbol(self, rules: TradingRules) -> None:
        self._markets[rules.symbol] = _Market(rules)

    @property
    def symbols(self) -> list[str]:
        return list(self._markets)

    def rules(self, symbol: str) -> TradingRules:
        return self._market(symbol).rules

    def _market(self, symbol: str) -> _Market:
        market = self._markets.get(symbol)
        if market is None:
            raise SimError(-1121, "Invalid symbol.")
        return market

    def deposit(self, account: str, asset: str, amount: Decimal) -> None:
        entry = self._entry(account, asset)
        entry[0] = MONEY_CONTEXT.add(entry[0], amount)
        self.listener.on_balances(account, {asset})

    def _entry(self, account: str, asset: str) -> list[Decimal]:
        assets = self._balances.setdefault(account, {})
        entry = assets.get(asset)
        if entry is None:
            entry = assets[asset] = [ZERO, ZERO]
        return entry

    def balances(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        """``asset -> (free, locked)``."""
        return {a: (e[0], e[1]) for a, e in self._balances.get(account, {}).items()}

    def accounts(self) -> list[str]:
        return list(self._balances)

    def totals(self) -> dict[str, Decimal]:
        """Sum of free + locked per asset over every account (the fee account included)."""
        out: dict[str, Decimal] = {}
        for assets in self._balances.values():
            for asset, (free, locked) in assets.items():
                out[asset] = MONEY_CONTEXT.add(
                    out.get(asset, ZERO), MONEY_CONTEXT.add(free, locked)
                )
        return out

    def update_id(self, symbol: str) -> int:
        return self._market(symbol).update_id

    def depth(
        self, symbol: str, limit: int | None = None
    ) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        market = self._market(symbol)
        return market.update_id, market.bids.levels(limit), market.asks.levels(limit)

    def best(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        market = self._market(symbol)
        return market.bids.best(), market.asks.best()

    def resting(self, symbol: str, side: Side) -> Iterator[SimOrder]:
        """Resting orders of one side, best price first, oldest first within a price."""
        return self._market(symbol).side(side).orders_best_first()

    def find_order(
        self,
        account: str,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> SimOrder:
        """An order of ``account`` by id or client id (the latest one holding that client id)."""
        self._market(symbol)
        order: SimOrder | None = None
        if order_id is not None:
            order = self._orders.get((symbol, order_id))
        elif client_order_id is not None:
            order = self._by_client.get((account, symbol, client_order_id))
        else:
            raise SimError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.account != account:
            raise SimError(-2013, "Order does not exist.")
        return order

    def open_orders(self, account: str, symbol: str | None = None) -> list[SimOrder]:
        out = [
            o
            for (acc, sym, _), o in self._open_by_client.items()
            if acc == account and (symbol is None or sym == symbol)
        ]
        out.sort(key=lambda o: (o.symbol, o.order_id))
        return out

    def account_trades(self, account: str, symbol: str) -> list[AccountTrade]:
        return self._trades.get((account, symbol), [])

    def orders_of(self, account: str) -> list[SimOrder]:
        """Every order ``account`` ever placed, open or closed, oldest first (for audits)."""
        mine = [o for o in self._orders.values() if o.account == account]
        mine.sort(key=lambda o: (o.created_ns, o.symbol, o.order_id))
        return mine

    # ------------------------------------------------------------------ order entry
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
    ) -> tuple[SimOrder, list[SimTrade]]:
        """Validate, reserve, match and rest (or expire) one order."""
        market = self._market(symbol)
        if order_type not in (LIMIT, LIMIT_MAKER):
            raise SimError(-1116, "Invalid orderType.")
        if tif not in (GTC, IOC):
            raise SimError(-1115, "Invalid timeInForce.")
        violation = market.rules.violation(price, qty)
        if violation is not None:
            raise SimError(-1013, f"Filter failure: {violation}")
        key = (account, symbol, client_order_id)
        if key in self._open_by_client:
            raise SimError(-2010, DUPLICATE)
        opposite = market.asks if side is Side.BUY else market.bids
        if order_type == LIMIT_MAKER and opposite.crosses(side, price):
            raise SimError(-2010, WOULD_TAKE)
        rules = market.rules
        reserve_asset, reserve = self._reservation(rules, side, price, qty)
        entry = self._entry(account, reserve_asset)
        if entry[0] < reserve:
            raise SimError(-2010, INSUFFICIENT)
        entry[0] = MONEY_CONTEXT.subtract(entry[0], reserve)
        entry[1] = MONEY_CONTEXT.add(entry[1], reserve)
        now = self._time.time_ns()
        order = SimOrder(
            symbol=symbol,
            order_id=next(market.order_ids),
            client_order_id=client_order_id,
            account=account,
            side=side,
            type=order_type,
            tif=tif,
            price=price,
            qty=qty,
            created_ns=now,
            updated_ns=now,
        )
        self._orders[(symbol, order.order_id)] = order
        self._by_client[key] = order
        self._open_by_client[key] = order
        self.listener.on_order(order, "NEW", None)
        self.listener.on_balances(account, {reserve_asset})
        trades = self._match(market, order)
        if order.is_open:
            if order.tif == IOC:
                self._close(market, order, EXPIRED, resting=False)
            else:
                book = market.side(side)
                self._depth(market, side, order.price, book.add(order))
        return order, trades

    @staticmethod
    def _reservation(
        rules: TradingRules, side: Side, price: Decimal, qty: Decimal
    ) -> tuple[str, Decimal]:
        if side is Side.BUY:
            return rules.quote, MONEY_CONTEXT.multiply(price, qty)
        return rules.base, qty

    def _match(self, market: _Market, taker: SimOrder) -> list[SimTrade]:
        opposite = market.asks if taker.side is Side.BUY else market.bids
        trades: list[SimTrade] = []
        while taker.remaining > 0 and opposite.crosses(taker.side, taker.price):
            best = opposite.best()
            assert best is not None
            queue = opposite.queues[best]
            maker = queue[0]
            qty = min(maker.remaining, taker.remaining)
            trade = self._fill(market, maker, taker, best, qty)
            trades.append(trade)
            level = opposite.reduce(best, qty)
            if maker.remaining == 0:
                queue.popleft()
                if not queue:
                    opposite._drop(best)
            self._depth(market, maker.side, best, level)
            self.listener.on_order(maker, "TRADE", trade)
            self.listener.on_order(taker, "TRADE", trade)
            self.listener.on_trade(trade)
            self.listener.on_balances(maker.account, {market.rules.base, market.rules.quote})
            if taker.account != maker.account:
                self.listener.on_balances(taker.account, {market.rules.base, market.rules.quote})
        return trades

    def _fee(self, amount: Decimal, rate: Decimal) -> Decimal:
        return MONEY_CONTEXT.multiply(amount, rate).quantize(
            COMMISSION_STEP, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT
        )

    def _fill(
        self, market: _Market, maker: SimOrder, taker: SimOrder, price: Decimal, qty: Decimal
    ) -> SimTrade:
        rules = market.rules
        quote = MONEY_CONTEXT.multiply(price, qty)
        now = self._time.time_ns()
        fees: dict[int, tuple[Decimal, str]] = {}
        for order, rate in ((maker, self.fees.maker), (taker, self.fees.taker)):
            if order.side is Side.BUY:
                # Pays quote from its reservation (made at its own limit price), receives base.
                self._release(
                    order.account,
                    rules.quote,
                    MONEY_CONTEXT.multiply(order.price, qty),
                    spent=quote,
                )
                fee = self._fee(qty, rate)
                self._credit(order.account, rules.base, MONEY_CONTEXT.subtract(qty, fee))
                fees[id(order)] = (fee, rules.base)
                self._credit(self.FEE_ACCOUNT, rules.base, fee)
            else:
                self._release(order.account, rules.base, qty, spent=qty)
                fee = self._fee(quote, rate)
                self._credit(order.account, rules.quote, MONEY_CONTEXT.subtract(quote, fee))
                fees[id(order)] = (fee, rules.quote)
                self._credit(self.FEE_ACCOUNT, rules.quote, fee)
            order.executed = MONEY_CONTEXT.add(order.executed, qty)
            order.cum_quote = MONEY_CONTEXT.add(order.cum_quote, quote)
            order.updated_ns = now
            if order.remaining == 0:
                order.status = FILLED
                self._open_by_client.pop((order.account, order.symbol, order.client_order_id), None)
            else:
                order.status = PARTIALLY_FILLED
        trade = SimTrade(
            symbol=maker.symbol,
            trade_id=next(market.trade_ids),
            price=price,
            qty=qty,
            quote_qty=quote,
            ts_ns=now,
            maker=maker,
            taker=taker,
            maker_fee=fees[id(maker)][0],
            maker_fee_asset=fees[id(maker)][1],
            taker_fee=fees[id(taker)][0],
            taker_fee_asset=fees[id(taker)][1],
        )
        self.trade_count += 1
        self._trades.setdefault((maker.account, maker.symbol), []).append(
            AccountTrade(trade, maker, True)
        )
        self._trades.setdefault((taker.account, taker.symbol), []).append(
            AccountTrade(trade, taker, False)
        )
        return trade

    def _release(self, account: str, asset: str, reserved: Decimal, spent: Decimal) -> None:
        """Take ``reserved`` out of locked; what was not ``spent`` goes back to free."""
        entry = self._entry(account, asset)
        entry[1] = MONEY_CONTEXT.subtract(entry[1], reserved)
        entry[0] = MONEY_CONTEXT.add(entry[0], MONEY_CONTEXT.subtract(reserved, spent))

    def _credit(self, account: str, asset: str, amount: Decimal) -> None:
        entry = self._entry(account, asset)
        entry[0] = MONEY_CONTEXT.add(entry[0], amount)

    def _depth(self, market: _Market, side: Side, price: Decimal, qty: Decimal) -> None:
        market.update_id += 1
        self.listener.on_depth(market.rules.symbol, side, price, qty)

    def skip_update_ids(self, symbol: str, count: int) -> None:
        """Burn update ids without publishing them (a sequence gap, for fault injection)."""
        self._market(symbol).update_id += count

    # ------------------------------------------------------------------ cancel
    def cancel(
        self,
        account: str,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        cancel_client_id: str = "",
    ) -> SimOrder:
        market = self._market(symbol)
        order: SimOrder | None = None
        if order_id is not None:
            order = self._orders.get((symbol, order_id))
            if order is not None and order.account != account:
                order = None
        elif client_order_id is not None:
            order = self._open_by_client.get((account, symbol, client_order_id))
        else:
            raise SimError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or not order.is_open:
            raise SimError(-2011, "Unknown order sent.")
        order.cancel_client_id = cancel_client_id
        self._close(market, order, CANCELED, resting=True)
        return order

    def _close(self, market: _Market, order: SimOrder, status: str, resting: bool) -> None:
        if resting:
            level = market.side(order.side).remove(order)
            self._depth(market, order.side, order.price, level)
        asset, reserved = self._reservation(market.rules, order.side, order.price, order.remaining)
        self._release(order.account, asset, reserved, spent=ZERO)
        order.status = status
        order.updated_ns = self._time.time_ns()
        self._open_by_client.pop((order.account, order.symbol, order.client_order_id), None)
        self.listener.on_order(order, "CANCELED" if status == CANCELED else "EXPIRED", None)
        self.listener.on_balances(order.account, {asset})
