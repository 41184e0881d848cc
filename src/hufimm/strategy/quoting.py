"""Quoting math: from a book, a budget and an inventory to a ladder of limit orders.

Pure functions on exact ``Decimal`` values, so they are property-tested on their own and the
executor only decides *when* to act on what they propose.  The pipeline, in order:

1. reference price (mid, last trade or microprice);
2. the ladder: ``bid_i = r(1 - bid_spread - i*level_spread)``, ``ask_i = r(1 + ask_spread +
   i*level_spread)``, ``size_i = order_amount + i*level_amount``;
3. price band: at or above the ceiling no bids, at or below the floor no asks;
4. inventory skew: sizes (and optionally prices) lean toward the target base ratio;
5. trading rules: bids round down, asks round up, sizes round down;
6. no crossing when post-only (HuFi mode keeps a wider distance from the opposite touch);
7. minimum spread: levels closer than it to the reference are dropped;
8. budget: the first level that does not fit is shrunk, the rest are dropped;
9. filters: levels below the minimum size or notional are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from hufimm.core.errors import InvalidInput
from hufimm.core.money import MONEY_CONTEXT as CTX
from hufimm.market.types import Side, TradingRules

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")
TWO = Decimal(2)


class ReferencePrice(StrEnum):
    MID = "mid"
    LAST = "last"
    MICROPRICE = "microprice"


@dataclass(frozen=True)
class QuoteParams:
    """A market-making executor's quoting parameters (spreads are fractions: 0.001 = 0.1 %)."""

    bid_spread: Decimal
    ask_spread: Decimal
    order_amount: Decimal  # base quantity of level 0
    order_levels: int = 1
    level_spread: Decimal = ZERO
    level_amount: Decimal = ZERO
    minimum_spread: Decimal | None = None
    price_ceiling: Decimal | None = None
    price_floor: Decimal | None = None
    inventory_skew: bool = False
    target_base_ratio: Decimal = HALF
    inventory_range_multiplier: Decimal = ONE
    skew_prices: bool = False
    post_only: bool = True
    hufi_maker_mode: bool = False
    hufi_min_ticks_from_touch: int = 2
    reference: ReferencePrice = ReferencePrice.MID

    def validate(self) -> QuoteParams:
        """Refuse nonsense with a message naming the parameter; returns ``self``."""

        def bad(name: str, why: str) -> InvalidInput:
            return InvalidInput(f"{name}: {why}")

        if self.bid_spread < 0 or self.ask_spread < 0:
            raise bad("bid_spread/ask_spread", "spreads must not be negative")
        if self.bid_spread >= 1:
            raise bad("bid_spread", "must be below 1 (100 %), or bids would be at or below zero")
        if self.order_amount <= 0:
            raise bad("order_amount", "must be positive")
        if self.order_levels < 1:
            raise bad("order_levels", "must be at least 1")
        if self.level_spread < 0:
            raise bad("level_spread", "negative level spread makes levels cross each other")
        if self.order_levels > 1 and self.level_spread == 0:
            raise bad("level_spread", "several levels need a positive level spread")
        deepest_bid = self.bid_spread + (self.order_levels - 1) * self.level_spread
        if deepest_bid >= 1:
            raise bad("level_spread", "the deepest bid level would be at or below zero")
        if self.order_amount + (self.order_levels - 1) * self.level_amount <= 0:
            raise bad("level_amount", "the deepest level's size would not be positive")
        if self.minimum_spread is not None and self.minimum_spread < 0:
            raise bad("minimum_spread", "must not be negative")
        if (
            self.price_ceiling is not None
            and self.price_floor is not None
            and self.price_floor >= self.price_ceiling
        ):
            raise bad("price_floor", "must be below price_ceiling")
        if not ZERO <= self.target_base_ratio <= ONE:
            raise bad("target_base_ratio", "must be between 0 and 1")
        if self.inventory_range_multiplier <= 0:
            raise bad("inventory_range_multiplier", "must be positive")
        if self.hufi_min_ticks_from_touch < 1:
            raise bad("hufi_min_ticks_from_touch", "must be at least 1")
        return self


@dataclass(frozen=True)
class MarketView:
    """What the quoting math needs to know about the market right now."""

    rules: TradingRules
    best_bid: Decimal | None
    best_ask: Decimal | None
    last_price: Decimal | None = None
    microprice: Decimal | None = None

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return CTX.divide(CTX.add(self.best_bid, self.best_ask), TWO)


@dataclass(frozen=True)
class Funds:
    """Base and quote amounts (a budget to quote with, or an inventory to skew by)."""

    base: Decimal
    quote: Decimal


@dataclass(frozen=True, order=True)
class Quote:
    """One proposed limit order."""

    side: Side
    level: int
    price: Decimal
    qty: Decimal


def reference_price(view: MarketView, kind: ReferencePrice) -> Decimal | None:
    if kind is ReferencePrice.LAST:
        return view.last_price
    if kind is ReferencePrice.MICROPRICE:
        return view.microprice if view.microprice is not None else view.mid
    return view.mid


def _interp(x: Decimal, x0: Decimal, x1: Decimal, y0: Decimal, y1: Decimal) -> Decimal:
    """Linear interpolation of ``x`` from ``[x0, x1]`` onto ``[y0, y1]``, clamped."""
    if x1 == x0:
        return y1 if x >= x1 else y0
    t = CTX.divide(CTX.subtract(x, x0), CTX.subtract(x1, x0))
    t = min(ONE, max(ZERO, t))
    return CTX.add(y0, CTX.multiply(t, CTX.subtract(y1, y0)))


def inventory_multipliers(
    params: QuoteParams, inventory: Funds, price: Decimal
) -> tuple[Decimal, Decimal]:
    """Size multipliers ``(bid, ask)`` in ``[0, 2]``: holding less base than the target buys
    more and sells less, holding more does the opposite; ``(1, 1)`` at the target."""
    levels = Decimal(params.order_levels)
    ladder_total = CTX.multiply(
        TWO,
        CTX.add(
            CTX.multiply(levels, params.order_amount),
            CTX.multiply(CTX.divide(CTX.multiply(levels, levels - 1), TWO), params.level_amount),
        ),
    )
    base_value = CTX.multiply(inventory.base, price)
    total_value = CTX.add(base_value, inventory.quote)
    if total_value <= 0:
        return ZERO, ZERO
    target = CTX.multiply(total_value, params.target_base_ratio)
    range_value = min(
        CTX.multiply(CTX.multiply(ladder_total, params.inventory_range_multiplier), price),
        CTX.divide(total_value, TWO),
    )
    if range_value <= 0:
        return ZERO, ZERO
    if base_value < target:
        position = _interp(base_value, max(target - range_value, ZERO), target, ZERO, HALF)
        bid = _interp(position, ZERO, HALF, TWO, ONE)
    else:
        position = _interp(base_value, target, target + range_value, HALF, ONE)
        bid = _interp(position, HALF, ONE, ONE, ZERO)
    return bid, TWO - bid


def _ladder(params: QuoteParams, ref: Decimal) -> list[Quote]:
    quotes = []
    for i in range(params.order_levels):
        step = CTX.multiply(Decimal(i), params.level_spread)
        size = CTX.add(params.order_amount, CTX.multiply(Decimal(i), params.level_amount))
        bid = CTX.multiply(ref, ONE - params.bid_spread - step)
        ask = CTX.multiply(ref, ONE + params.ask_spread + step)
        quotes.append(Quote(Side.BUY, i, bid, size))
        quotes.append(Quote(Side.SELL, i, ask, size))
    return quotes


def _keep_off_touch(
    quote: Quote, view: MarketView, rules: TradingRules, ticks: int
) -> Quote | None:
    """Move a post-only quote behind the opposite touch by ``ticks`` ticks."""
    gap = CTX.multiply(rules.tick_size, Decimal(ticks))
    if quote.side is Side.BUY and view.best_ask is not None:
        limit = CTX.subtract(view.best_ask, gap)
        if quote.price > limit:
            price = rules.round_price(limit, Side.BUY)
            return None if price <= 0 else Quote(quote.side, quote.level, price, quote.qty)
    if quote.side is Side.SELL and view.best_bid is not None:
        limit = CTX.add(view.best_bid, gap)
        if quote.price < limit:
            return Quote(quote.side, quote.level, rules.round_price(limit, Side.SELL), quote.qty)
    return quote


def _fit_budget(quotes: Sequence[Quote], budget: Funds, rules: TradingRules) -> list[Quote]:
    """Bids spend quote, asks spend base; the first level that does not fit is shrunk."""
    kept: list[Quote] = []
    quote_left, base_left = budget.quote, budget.base
    for q in quotes:
        if q.side is Side.BUY:
            cost = CTX.multiply(q.price, q.qty)
            if cost > quote_left:
                qty = rules.round_qty(CTX.divide(quote_left, q.price)) if quote_left > 0 else ZERO
                if qty > 0:
                    kept.append(Quote(q.side, q.level, q.price, qty))
                quote_left = ZERO
                continue
            quote_left = CTX.subtract(quote_left, cost)
        else:
            if q.qty > base_left:
                qty = rules.round_qty(base_left) if base_left > 0 else ZERO
                if qty > 0:
                    kept.append(Quote(q.side, q.level, q.price, qty))
                base_left = ZERO
                continue
            base_left = CTX.subtract(base_left, q.qty)
        kept.append(q)
    return kept


def propose(
    params: QuoteParams, view: MarketView, budget: Funds, inventory: Funds | None = None
) -> list[Quote]:
    """The ladder to have on the book now: bids best first, then asks best first."""
    rules = view.rules
    ref = reference_price(view, params.reference)
    if ref is None or ref <= 0:
        return []
    quotes = _ladder(params, ref)
    if params.price_ceiling is not None and ref >= params.price_ceiling:
        quotes = [q for q in quotes if q.side is Side.SELL]
    if params.price_floor is not None and ref <= params.price_floor:
        quotes = [q for q in quotes if q.side is Side.BUY]
    if params.inventory_skew:
        bid_mult, ask_mult = inventory_multipliers(params, inventory or budget, ref)
        skewed = []
        for q in quotes:
            mult = bid_mult if q.side is Side.BUY else ask_mult
            price = q.price
            if params.skew_prices and mult < 1:
                # The side we want less of also backs off by the missing share of its spread.
                spread = params.bid_spread if q.side is Side.BUY else params.ask_spread
                extra = CTX.multiply(CTX.multiply(ref, spread), ONE - mult)
                price = CTX.subtract(price, extra) if q.side is Side.BUY else CTX.add(price, extra)
            skewed.append(Quote(q.side, q.level, price, CTX.multiply(q.qty, mult)))
        quotes = skewed
    rounded = [
        Quote(q.side, q.level, rules.round_price(q.price, q.side), rules.round_qty(q.qty))
        for q in quotes
    ]
    rounded = [q for q in rounded if q.price > 0 and q.qty > 0]
    if params.post_only or params.hufi_maker_mode:
        ticks = params.hufi_min_ticks_from_touch if params.hufi_maker_mode else 1
        moved = (_keep_off_touch(q, view, rules, ticks) for q in rounded)
        rounded = [q for q in moved if q is not None]
    if params.minimum_spread is not None:
        floor = CTX.multiply(ref, params.minimum_spread)
        rounded = [q for q in rounded if abs(CTX.subtract(q.price, ref)) >= floor]
    bids = _distinct(sorted((q for q in rounded if q.side is Side.BUY), key=lambda q: -q.price))
    asks = _distinct(sorted((q for q in rounded if q.side is Side.SELL), key=lambda q: q.price))
    fitted = _fit_budget([*bids, *asks], budget, rules)
    valid = [q for q in fitted if rules.violation(q.price, q.qty) is None]
    return [
        Quote(q.side, i, q.price, q.qty)
        for side in (Side.BUY, Side.SELL)
        for i, q in enumerate(q for q in valid if q.side is side)
    ]


def _distinct(quotes: list[Quote]) -> list[Quote]:
    """Levels that rounding or the touch guard pushed onto one price merge into one order."""
    merged: list[Quote] = []
    for q in quotes:
        if merged and merged[-1].price == q.price:
            last = merged[-1]
            merged[-1] = Quote(last.side, last.level, last.price, CTX.add(last.qty, q.qty))
        else:
            merged.append(q)
    return merged
