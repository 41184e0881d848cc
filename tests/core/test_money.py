"""Exact money conversions, rounding directions and dust."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hufimm.core.money import (
    Asset,
    Money,
    Rounding,
    exact,
    from_units,
    quantize_to_step,
    rescale_units,
    split_units,
    to_decimal,
    to_units,
    to_units_exact,
)


def test_units_round_trip_beyond_int64() -> None:
    units = 10**30 + 7
    assert units > 2**63
    value = from_units(units, 8)
    assert value == Decimal("10000000000000000000000.00000007")
    assert to_units_exact(value, 8) == units


def test_rounding_direction_is_explicit() -> None:
    assert to_units("1.123456789", 8, Rounding.FLOOR) == 112345678
    assert to_units("1.123456781", 8, Rounding.CEILING) == 112345679
    assert to_units("-1.123456789", 8, Rounding.FLOOR) == -112345679
    with pytest.raises(ValueError, match="more than 8 decimals"):
        to_units_exact("0.000000001", 8)


def test_floats_and_non_finite_values_are_refused() -> None:
    with pytest.raises(TypeError):
        to_decimal(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        to_decimal("NaN")
    with pytest.raises(ValueError):
        to_decimal("1e")


def test_dust_is_returned_not_lost() -> None:
    units, dust = split_units("1.234567891234", 8)
    assert units == 123456789 and dust == Decimal("0.000000001234")
    # 18-decimal chain amount into Mixin's 8 decimals.
    converted, chain_dust = rescale_units(1_234_567_891_234_567_891, 18, 8)
    assert converted == 123_456_789
    assert chain_dust == 1_234_567_891
    assert converted * 10**10 + chain_dust == 1_234_567_891_234_567_891
    assert rescale_units(5, 6, 8) == (500, 0)


def test_quantize_to_exchange_steps() -> None:
    step = Decimal("0.01")
    assert quantize_to_step(Decimal("100.019"), step, Rounding.FLOOR) == Decimal("100.01")
    assert str(quantize_to_step(Decimal("100.011"), step, Rounding.CEILING)) == "100.02"
    assert str(quantize_to_step(Decimal("100.1"), step, Rounding.FLOOR)) == "100.10"
    assert quantize_to_step(Decimal("7"), Decimal("5"), Rounding.FLOOR) == Decimal("5")
    with pytest.raises(ValueError):
        quantize_to_step(Decimal("1"), Decimal("0"), Rounding.FLOOR)


def test_money_refuses_mixed_assets() -> None:
    a, b = Money("usdt", 5), Money("btc", 5)
    assert (a + Money("usdt", 2)).units == 7
    with pytest.raises(ValueError):
        _ = a + b
    asset = Asset("usdt", "USDT", 8)
    assert asset.format(150_000_000) == "1.50000000 USDT"


@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=0, max_value=30))
def test_from_units_to_units_round_trip(units: int, precision: int) -> None:
    assert to_units_exact(from_units(units, precision), precision) == units


@given(
    st.decimals(
        min_value=-(10**20), max_value=10**20, allow_nan=False, allow_infinity=False, places=12
    ),
    st.integers(min_value=0, max_value=10),
)
def test_floor_and_ceiling_bracket_the_value(value: Decimal, precision: int) -> None:
    low = to_units(value, precision, Rounding.FLOOR)
    high = to_units(value, precision, Rounding.CEILING)
    assert from_units(low, precision) <= value <= from_units(high, precision)
    assert high - low in (0, 1)
    units, dust = split_units(value, precision)
    with exact():
        assert from_units(units, precision) + dust == value


@given(st.integers(min_value=0, max_value=10**40), st.sampled_from([(18, 8), (6, 8), (8, 6)]))
def test_rescale_conserves_value(units: int, precisions: tuple[int, int]) -> None:
    source, target = precisions
    converted, dust = rescale_units(units, source, target)
    if target >= source:
        assert dust == 0 and converted == units * 10 ** (target - source)
    else:
        assert converted * 10 ** (source - target) + dust == units
        assert 0 <= dust < 10 ** (source - target)
