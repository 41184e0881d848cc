"""The matching engine: rules and error codes, fees, reservations, and its invariants under
random order flow (hypothesis)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hufimm.core.timesource import VirtualTimeSource
from hufimm.market import Side, TradingRules
from hufimm.sim.exchange.engine import (
    CANCELED,
    EXPIRED,
    FILLED,
    GTC,
    IOC,
    LIMIT,
    LIMIT_MAKER,
    PARTIALLY_FILLED,
    FeeSchedule,
    MatchingEngine,
    SimError,
)

D = Decimal
RULES = TradingRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.5"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    min_notional=D("1"),
)
ACCOUNTS = ("a", "b", "c")
START = {"BTC": D(5), "USDT": D(500)}


def engine(maker: str = "0.001", taker: str = "0.002") -> MatchingEngine:
    eng = MatchingEngine(VirtualTimeSource(), FeeSchedule(D(maker), D(taker)))
    eng.add_symbol(RULES)
    for account in ACCOUNTS:
        for asset, amount in START.items():
            eng.deposit(account, asset, amount)
    return eng


def place(eng: MatchingEngine, account: str, side: Side, price: str, qty: str, cid: str, **kw: str):
    return eng.place(account, "BTC/USDT", side, D(price), D(qty), cid, **kw)


def test_price_time_priority_fees_and_reservations() -> None:
    eng = engine()
    first, _ = place(eng, "a", Side.SELL, "100", "1", "a1")
    second, _ = place(eng, "b", Side.SELL, "100", "1", "b1")
    place(eng, "b", Side.SELL, "99.5", "0.5", "b2")
    assert eng.balances("b")["BTC"] == (D("3.5"), D("1.5"))
    taker, trades = place(eng, "c", Side.BUY, "100", "1.2", "c1")
    # Best price first, then the older order at the same price; takers pay at the maker's price.
    assert [(t.maker.client_order_id, t.price, t.qty) for t in trades] == [
        ("b2", D("99.5"), D("0.5")),
        ("a1", D("100"), D("0.7")),
    ]
    assert (taker.status, first.status, second.status) == (FILLED, PARTIALLY_FILLED, "NEW")
    # The buyer reserved 1.2 * 100 and spent 0.5 * 99.5 + 0.7 * 100; its fee is in BTC.
    assert eng.balances("c")["USDT"] == (D(500) - D("49.75") - D("70"), D(0))
    assert eng.balances("c")["BTC"] == (D(5) + D("1.2") - D("0.0024"), D(0))
    # Makers pay the maker rate on the quote they receive.
    assert eng.balances("a")["USDT"] == (D(500) + D(70) - D("0.07"), D(0))
    assert eng.balances(MatchingEngine.FEE_ACCOUNT) == {
        "BTC": (D("0.0024"), D(0)),
        "USDT": (D("0.04975") + D("0.07"), D(0)),
    }


@pytest.mark.parametrize(
    ("side", "price", "qty", "kwargs", "code", "message"),
    [
        (Side.BUY, "100.25", "1", {}, -1013, "Filter failure: PRICE_FILTER"),
        (Side.BUY, "100", "0.0005", {}, -1013, "Filter failure: LOT_SIZE"),
        (Side.BUY, "0.5", "0.001", {}, -1013, "Filter failure: NOTIONAL"),
        (Side.BUY, "100", "6", {}, -2010, "Account has insufficient balance for requested action."),
        (
            Side.SELL,
            "100",
            "6",
            {},
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (
            Side.BUY,
            "101",
            "0.1",
            {"order_type": LIMIT_MAKER},
            -2010,
            "Order would immediately match and take.",
        ),
        (Side.BUY, "99", "0.1", {"order_type": "MARKET"}, -1116, "Invalid orderType."),
    ],
)
def test_refusals_speak_binance(
    side: Side, price: str, qty: str, kwargs: dict[str, str], code: int, message: str
) -> None:
    eng = engine()
    place(eng, "a", Side.SELL, "101", "1", "ask")
    with pytest.raises(SimError) as refused:
        place(eng, "b", side, price, qty, "x", **kwargs)
    assert (refused.value.code, refused.value.msg) == (code, message)
    assert eng.open_orders("b") == []


def test_client_ids_are_unique_among_open_orders_only() -> None:
    eng = engine()
    place(eng, "a", Side.BUY, "90", "0.1", "same")
    with pytest.raises(SimError) as duplicate:
        place(eng, "a", Side.BUY, "91", "0.1", "same")
    assert (duplicate.value.code, duplicate.value.msg) == (-2010, "Duplicate order sent.")
    place(eng, "b", Side.BUY, "91", "0.1", "same")  # another account may use it
    eng.cancel("a", "BTC/USDT", client_order_id="same")
    with pytest.raises(SimError) as gone:
        eng.cancel("a", "BTC/USDT", client_order_id="same")
    assert gone.value.code == -2011
    reused, _ = place(eng, "a", Side.BUY, "92", "0.1", "same")  # no longer open: reusable
    assert eng.find_order("a", "BTC/USDT", client_order_id="same") is reused
    with pytest.raises(SimError) as missing:
        eng.find_order("a", "BTC/USDT", client_order_id="never")
    assert missing.value.code == -2013


def test_ioc_remainder_expires_and_releases_funds() -> None:
    eng = engine()
    place(eng, "a", Side.SELL, "100", "0.3", "ask")
    order, trades = place(eng, "b", Side.BUY, "100", "1", "ioc", tif=IOC)
    assert order.status == EXPIRED and sum(t.qty for t in trades) == D("0.3")
    assert eng.balances("b")["USDT"] == (D(500) - D(30), D(0))
    assert eng.depth("BTC/USDT")[1:] == ([], [])


# ---------------------------------------------------------------- properties
price_ticks = st.integers(min_value=190, max_value=210)  # prices 95.0 .. 105.0
ops = st.one_of(
    st.tuples(
        st.just("place"),
        st.sampled_from(ACCOUNTS),
        st.sampled_from([Side.BUY, Side.SELL]),
        price_ticks,
        st.integers(min_value=1, max_value=3000),  # qty in steps of 0.001
        st.sampled_from([(LIMIT, GTC), (LIMIT, GTC), (LIMIT, IOC), (LIMIT_MAKER, GTC)]),
        st.integers(min_value=0, max_value=7),
    ),
    st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(min_value=0, max_value=7)),
)


@settings(max_examples=150)
@given(st.lists(ops, min_size=1, max_size=60))
def test_engine_invariants_under_random_flow(flow: list[tuple[object, ...]]) -> None:
    eng = engine()
    totals = eng.totals()
    seen_trades: set[int] = set()
    refusals: list[int] = []
    for op in flow:
        if op[0] == "cancel":
            _, account, cid = op
            key = (str(account), "BTC/USDT")
            is_open = any(o.client_order_id == f"o{cid}" for o in eng.open_orders(key[0], key[1]))
            if is_open:
                eng.cancel(*key, client_order_id=f"o{cid}")
            else:
                with pytest.raises(SimError, match="-2011"):
                    eng.cancel(*key, client_order_id=f"o{cid}")
        else:
            _, account, side, ticks, steps, (order_type, tif), cid = op
            assert isinstance(side, Side) and isinstance(ticks, int) and isinstance(steps, int)
            price = RULES.tick_size * ticks
            qty = RULES.step_size * steps
            priority = [(o.order_id, o.remaining) for o in eng.resting("BTC/USDT", side.opposite)]
            try:
                order, trades = eng.place(
                    str(account), "BTC/USDT", side, price, qty, f"o{cid}", str(order_type), str(tif)
                )
            except SimError as exc:
                refusals.append(exc.code)
                continue
            # Post-only never takes.
            if order_type == LIMIT_MAKER:
                assert trades == []
            # Price-time priority: the makers are the head of the opposite queue, in order,
            # each consumed fully except possibly the last.
            makers = [t.maker.order_id for t in trades]
            assert makers == [oid for oid, _ in priority[: len(makers)]]
            for trade, (_, remaining) in zip(trades[:-1], priority, strict=False):
                assert trade.qty == remaining
            for trade in trades:
                assert trade.taker is order and trade.taker.type != LIMIT_MAKER
                assert (trade.price <= price) if side is Side.BUY else (trade.price >= price)
                assert trade.trade_id not in seen_trades
                seen_trades.add(trade.trade_id)
        _check_state(eng, totals)
    assert set(refusals) <= {-2010, -1013}  # funds, duplicates, post-only, filters: nothing else
    # Every trade is seen by both sides, once each, with the same id.
    sightings = Counter(
        (row.trade.trade_id, row.is_maker)
        for account in ACCOUNTS
        for row in eng.account_trades(account, "BTC/USDT")
    )
    assert set(sightings) == {(tid, m) for tid in seen_trades for m in (True, False)}
    assert set(sightings.values()) <= {1}


def _check_state(eng: MatchingEngine, totals: dict[str, Decimal]) -> None:
    # Conservation: trading moves funds between accounts and the venue's fee account only.
    assert eng.totals() == totals
    # The book never stays crossed.
    bid, ask = eng.best("BTC/USDT")
    assert bid is None or ask is None or bid < ask
    # Locked funds are exactly what the open orders reserve; nothing is negative.
    for account in ACCOUNTS:
        reserved = {"BTC": D(0), "USDT": D(0)}
        for order in eng.open_orders(account):
            if order.side is Side.BUY:
                reserved["USDT"] += order.price * order.remaining
            else:
                reserved["BTC"] += order.remaining
        balances = eng.balances(account)
        for asset, (free, locked) in balances.items():
            assert free >= 0
            assert locked == reserved[asset]
    assert all(
        o.status not in (CANCELED, FILLED, EXPIRED) for a in ACCOUNTS for o in eng.open_orders(a)
    )
