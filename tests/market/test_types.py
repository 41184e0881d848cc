"""Trading rules round toward safety and name the filter a quote breaks; fills round-trip."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hufimm.market import Fill, Side, TradingRules

RULES = TradingRules(
    "BTC/USDT",
    "BTC",
    "USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    min_notional=Decimal("5"),
)


def test_rounding_never_makes_a_quote_more_aggressive() -> None:
    assert RULES.round_price(Decimal("100.019"), Side.BUY) == Decimal("100.01")
    assert RULES.round_price(Decimal("100.011"), Side.SELL) == Decimal("100.02")
    assert RULES.round_qty(Decimal("0.123456789")) == Decimal("0.12345")


def test_violations_name_the_filter() -> None:
    assert RULES.violation(Decimal("100.00"), Decimal("0.1")) is None
    assert RULES.violation(Decimal("100.001"), Decimal("0.1")) == "PRICE_FILTER"
    assert RULES.violation(Decimal("100.00"), Decimal("0.000001")) == "LOT_SIZE"
    assert RULES.violation(Decimal("100.00"), Decimal("0.01")) == "NOTIONAL"


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6), places=6),
    st.sampled_from(list(Side)),
)
def test_rounded_prices_pass_the_price_filter(price: Decimal, side: Side) -> None:
    rounded = RULES.round_price(price, side)
    assert (rounded <= price) if side is Side.BUY else (rounded >= price)
    assert RULES.violation(rounded, Decimal("1")) in (None, "NOTIONAL")


def test_fill_payload_round_trip_is_exact() -> None:
    fill = Fill(
        "binance",
        "acct-1",
        "BTC/USDT",
        "77",
        "12",
        "hf1abc",
        Side.SELL,
        Decimal("100000.01"),
        Decimal("0.00012"),
        Decimal("12.0000012"),
        Decimal("0.0120000012"),
        "USDT",
        True,
        1_767_225_600_000_000_000,
    )
    assert Fill.from_payload(fill.to_payload()) == fill
    assert all(not isinstance(v, float) for v in fill.to_payload().values())
