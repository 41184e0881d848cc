"""The order book against a naive exact model, under arbitrary diffs and spellings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hufimm.market.orderbook import OrderBook, parse_units
from hufimm.market.types import Side

PRICES = st.integers(min_value=9_900, max_value=10_100)  # in cents
QTYS = st.one_of(st.just(0), st.integers(min_value=1, max_value=10**9))  # in 1e-8 units


def spell(units: int, decimals: int, style: int) -> str:
    """Several spellings of one value: fixed 8 dp, trimmed, or padded."""
    text = f"{units // 10**decimals}.{units % 10**decimals:0{decimals}d}"
    if style == 1:
        text = text.rstrip("0").rstrip(".") or "0"
    elif style == 2:
        text = text + "000"
    return text


diffs = st.lists(
    st.tuples(st.booleans(), PRICES, QTYS, st.integers(min_value=0, max_value=2)),
    min_size=1,
    max_size=12,
)


def reference_levels(model: dict[int, int], descending: bool) -> list[tuple[Decimal, Decimal]]:
    return [
        (Decimal(p) / 100, Decimal(q) / 10**8) for p, q in sorted(model.items(), reverse=descending)
    ]


@settings(max_examples=300)
@given(st.lists(diffs, min_size=1, max_size=60), st.booleans())
def test_book_matches_a_naive_model(messages: list, read_each_time: bool) -> None:
    book = OrderBook("BTC/USDT", price_scale=8)
    model: dict[bool, dict[int, int]] = {True: {}, False: {}}
    for seq, message in enumerate(messages, start=1):
        bids, asks = [], []
        for is_bid, price, qty, style in message:
            pair = [spell(price * 10**6, 8, style), spell(qty, 8, style)]
            (bids if is_bid else asks).append(pair)
            if qty:
                model[is_bid][price] = qty
            else:
                model[is_bid].pop(price, None)
        book.apply_text_diff(seq, bids, asks)
        if read_each_time:
            _check_top(book, model)
    _check_top(book, model)
    assert book.levels(Side.BUY) == reference_levels(model[True], descending=True)
    assert book.levels(Side.SELL) == reference_levels(model[False], descending=False)
    assert book.seq == len(messages)


def _check_top(book: OrderBook, model: dict[bool, dict[int, int]]) -> None:
    best_bid = max(model[True], default=None)
    best_ask = min(model[False], default=None)
    assert book.best_bid_units() == (None if best_bid is None else best_bid * 10**6)
    assert book.best_ask_units() == (None if best_ask is None else best_ask * 10**6)
    if best_bid is not None and best_ask is not None:
        assert book.mid() == (Decimal(best_bid) + Decimal(best_ask)) / 200
        assert book.is_crossed() == (best_bid >= best_ask)


def test_reads_depth_vwap_and_microprice_exactly() -> None:
    book = OrderBook("BTC/USDT", 8)
    book.load_snapshot(
        10,
        [("100.00", "1"), ("99.50", "2"), ("99.00", "3")],
        [("100.50", "0.5"), ("101.00", "1.5")],
    )
    assert book.best_bid() == (Decimal("100"), Decimal("1"))
    assert book.spread() == Decimal("0.5")
    # Buying 1.0 takes 0.5 @ 100.50 and 0.5 @ 101.00.
    assert book.vwap(Side.BUY, Decimal("1")) == Decimal("100.75")
    assert book.vwap(Side.SELL, Decimal("2")) == Decimal("99.75")
    assert book.vwap(Side.BUY, Decimal("3")) is None  # not enough liquidity
    assert book.depth_to_price(Side.BUY, Decimal("99.50")) == Decimal("3")
    assert book.depth_to_price(Side.SELL, Decimal("100.50")) == Decimal("0.5")
    # Size-weighted mid leans toward the thin ask side.
    assert book.microprice() == Decimal("100.333333333333")
    with pytest.raises(ValueError):
        book.vwap(Side.BUY, Decimal("0"))


def test_fingerprint_ignores_spelling_and_sees_changes() -> None:
    a, b = OrderBook("X", 8), OrderBook("X", 8)
    a.load_snapshot(1, [("100.00000000", "1.00000000")], [("101.00000000", "2.00000000")])
    b.load_snapshot(1, [("100", "1")], [("101.0", "2.0")])
    assert a.fingerprint() == b.fingerprint()
    b.apply_text_diff(2, [["100", "1.5"]], [])
    assert a.fingerprint() != b.fingerprint()


def test_memory_stays_bounded_while_the_market_drifts() -> None:
    book = OrderBook("X", 8)
    for step in range(20_000):
        price = f"{1000 + step}.00"
        book.apply_text_diff(step, [[price, "1"]], [])
        book.apply_text_diff(step, [[price, "0"]], [])
    book.apply_text_diff(20_001, [["5.00", "1"]], [])
    assert book.best_bid() == (Decimal("5"), Decimal("1"))
    assert len(book.bids._keys) < 10_000  # removed levels were compacted away


@pytest.mark.parametrize(
    ("text", "units"),
    [("1", 100), ("1.5", 150), ("0.01", 1), ("12.340000", 1234), (".5", 50)],
)
def test_parse_units(text: str, units: int) -> None:
    assert parse_units(text, 2) == units


@pytest.mark.parametrize("text", ["1.001", "-1", "1e5", "", "1_0", "abc", "1.2.3", "١"])
def test_parse_units_refuses_inexact_or_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_units(text, 2)


def test_a_malformed_price_is_refused_and_not_kept() -> None:
    book = OrderBook("X", 2)
    with pytest.raises(ValueError):
        book.apply_text_diff(1, [["1.001", "1"]], [])
    assert book.best_bid() is None
    assert book.levels(Side.BUY) == []


def test_decimal_levels_in_exponent_form() -> None:
    book = OrderBook("X/Y", price_scale=2)
    book.load_snapshot(1, [(Decimal("1E+3"), Decimal("2"))], [(Decimal("1001.5"), Decimal("1"))])
    assert book.best_bid() == (Decimal(1000), Decimal(2))
    book.apply_diff(2, [(Decimal("1000.00"), Decimal("0E-8"))], [])  # a zero in exponent form
    assert book.best_bid() is None and book.best_ask() == (Decimal("1001.5"), Decimal(1))
