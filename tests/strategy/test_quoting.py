"""Quoting math: properties that must hold for any book, budget and inventory."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hufimm.core.errors import InvalidInput
from hufimm.market.types import Side, TradingRules
from hufimm.strategy.quoting import (
    Funds,
    MarketView,
    QuoteParams,
    ReferencePrice,
    inventory_multipliers,
    propose,
)

RULES = TradingRules(
    "BTC/USDT",
    "BTC",
    "USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.0001"),
    min_qty=Decimal("0.0001"),
    min_notional=Decimal("5"),
)

prices = st.decimals(min_value=Decimal("10"), max_value=Decimal("100000"), places=2)
spreads = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.05"), places=4)
amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5"), places=4)


@st.composite
def views(draw: st.DrawFn) -> MarketView:
    bid = draw(prices)
    gap = draw(st.integers(min_value=1, max_value=500))
    ask = bid + Decimal(gap) * RULES.tick_size
    return MarketView(
        RULES, bid, ask, last_price=draw(st.one_of(st.none(), prices)), microprice=None
    )


@st.composite
def params(draw: st.DrawFn) -> QuoteParams:
    levels = draw(st.integers(min_value=1, max_value=5))
    return QuoteParams(
        bid_spread=draw(spreads),
        ask_spread=draw(spreads),
        order_amount=draw(amounts),
        order_levels=levels,
        level_spread=draw(
            st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.01"), places=4)
        ),
        level_amount=draw(st.decimals(min_value=Decimal(0), max_value=Decimal("1"), places=4)),
        inventory_skew=draw(st.booleans()),
        skew_prices=draw(st.booleans()),
        hufi_maker_mode=draw(st.booleans()),
        reference=draw(st.sampled_from(list(ReferencePrice))),
    ).validate()


funds = st.builds(
    Funds,
    base=st.decimals(min_value=Decimal(0), max_value=Decimal("20"), places=6),
    quote=st.decimals(min_value=Decimal(0), max_value=Decimal("500000"), places=2),
)


@given(params(), views(), funds, funds)
def test_proposals_never_cross_and_respect_budget_and_rules(
    p: QuoteParams, view: MarketView, budget: Funds, inventory: Funds
) -> None:
    quotes = propose(p, view, budget, inventory)
    assert view.best_bid is not None and view.best_ask is not None
    bids = [q for q in quotes if q.side is Side.BUY]
    asks = [q for q in quotes if q.side is Side.SELL]
    assert all(q.price < view.best_ask for q in bids)  # post-only never takes
    assert all(q.price > view.best_bid for q in asks)
    assert sum((q.price * q.qty for q in bids), Decimal(0)) <= budget.quote
    assert sum((q.qty for q in asks), Decimal(0)) <= budget.base
    assert all(RULES.violation(q.price, q.qty) is None for q in quotes)
    # Levels are strictly ordered away from the touch, and numbered in that order.
    assert all(a.price > b.price for a, b in itertools.pairwise(bids))
    assert all(a.price < b.price for a, b in itertools.pairwise(asks))
    assert [q.level for q in bids] == list(range(len(bids)))
    assert propose(p, view, budget, inventory) == quotes  # same inputs, same answer


@given(params(), views())
def test_hufi_mode_keeps_its_distance_from_the_touch(p: QuoteParams, view: MarketView) -> None:
    p = QuoteParams(**{**p.__dict__, "hufi_maker_mode": True, "hufi_min_ticks_from_touch": 3})
    rich = Funds(Decimal(100), Decimal(10**7))
    assert view.best_bid is not None and view.best_ask is not None
    for q in propose(p, view, rich):
        if q.side is Side.BUY:
            assert q.price <= view.best_ask - 3 * RULES.tick_size
        else:
            assert q.price >= view.best_bid + 3 * RULES.tick_size


@given(st.decimals(min_value=Decimal(0), max_value=Decimal(10), places=4), prices)
def test_skew_moves_sizes_toward_the_target(base: Decimal, price: Decimal) -> None:
    p = QuoteParams(
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("0.1"),
        order_levels=2,
        level_spread=Decimal("0.001"),
        inventory_skew=True,
    ).validate()
    quote = price * 5  # target 50 % base by value <=> base value == quote value
    bid, ask = inventory_multipliers(p, Funds(base, quote), price)
    assert bid + ask == 2
    assert Decimal(0) <= bid <= 2
    base_value = base * price
    if base_value < quote:
        assert bid >= 1 >= ask  # too little base: buy more, sell less
    elif base_value > quote:
        assert bid <= 1 <= ask
    else:
        assert bid == ask == 1


def test_a_ladder_by_hand() -> None:
    p = QuoteParams(
        Decimal("0.001"),
        Decimal("0.002"),
        Decimal("0.1"),
        order_levels=2,
        level_spread=Decimal("0.001"),
        level_amount=Decimal("0.05"),
    ).validate()
    view = MarketView(RULES, Decimal("99.99"), Decimal("100.01"))
    quotes = propose(p, view, Funds(Decimal(1), Decimal(10_000)))
    # r = 100.00; bids 99.90, 99.80 (rounded down), asks 100.20, 100.30 (rounded up)
    assert [(q.side, q.price, q.qty) for q in quotes] == [
        (Side.BUY, Decimal("99.90"), Decimal("0.1000")),
        (Side.BUY, Decimal("99.80"), Decimal("0.1500")),
        (Side.SELL, Decimal("100.20"), Decimal("0.1000")),
        (Side.SELL, Decimal("100.30"), Decimal("0.1500")),
    ]


def test_budget_shrinks_the_first_level_that_does_not_fit() -> None:
    p = QuoteParams(
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("0.1"),
        order_levels=3,
        level_spread=Decimal("0.001"),
    ).validate()
    view = MarketView(RULES, Decimal("99.99"), Decimal("100.01"))
    quotes = propose(p, view, Funds(base=Decimal("0.25"), quote=Decimal("15")))
    bids = [q for q in quotes if q.side is Side.BUY]
    asks = [q for q in quotes if q.side is Side.SELL]
    assert [q.qty for q in bids] == [Decimal("0.1"), Decimal("0.0502")]  # 5.01 / 99.80
    assert [q.qty for q in asks] == [Decimal("0.1"), Decimal("0.1"), Decimal("0.05")]


def test_price_band_and_minimum_spread() -> None:
    view = MarketView(RULES, Decimal("99.99"), Decimal("100.01"))
    rich = Funds(Decimal(10), Decimal(10**6))
    ceiling = QuoteParams(
        Decimal("0.001"), Decimal("0.001"), Decimal("0.1"), price_ceiling=Decimal("100")
    ).validate()
    assert {q.side for q in propose(ceiling, view, rich)} == {Side.SELL}
    floor = QuoteParams(
        Decimal("0.001"), Decimal("0.001"), Decimal("0.1"), price_floor=Decimal("100")
    ).validate()
    assert {q.side for q in propose(floor, view, rich)} == {Side.BUY}
    tight = QuoteParams(
        Decimal("0.0001"), Decimal("0.01"), Decimal("0.1"), minimum_spread=Decimal("0.005")
    ).validate()
    assert {q.side for q in propose(tight, view, rich)} == {Side.SELL}


def test_no_reference_price_means_no_quotes() -> None:
    p = QuoteParams(Decimal("0.001"), Decimal("0.001"), Decimal("0.1")).validate()
    one_sided = MarketView(RULES, Decimal("100"), None)
    assert propose(p, one_sided, Funds(Decimal(1), Decimal(1000))) == []


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"bid_spread": Decimal("-0.01")}, "negative"),
        ({"order_amount": Decimal(0)}, "order_amount"),
        ({"order_levels": 3, "level_spread": Decimal(0)}, "level_spread"),
        ({"order_levels": 3, "level_spread": Decimal("-0.001")}, "cross"),
        (
            {"bid_spread": Decimal("0.5"), "order_levels": 3, "level_spread": Decimal("0.3")},
            "below zero",
        ),
        ({"price_floor": Decimal(10), "price_ceiling": Decimal(5)}, "price_floor"),
        ({"target_base_ratio": Decimal("1.5")}, "target_base_ratio"),
    ],
)
def test_nonsense_parameters_are_refused_clearly(changes: dict, fragment: str) -> None:
    base = {
        "bid_spread": Decimal("0.001"),
        "ask_spread": Decimal("0.001"),
        "order_amount": Decimal("0.1"),
    }
    with pytest.raises(InvalidInput, match=fragment):
        QuoteParams(**{**base, **changes}).validate()
