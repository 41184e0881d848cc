"""Exact money.

Balances are integers of an asset's atomic units (Mixin assets: 8 decimals); Python integers
have no size limit, so meme-token amounts beyond 2^63 stay exact.  Exchange prices and sizes
are :class:`~decimal.Decimal`.  Every conversion that may lose digits takes an explicit
:class:`Rounding`, and the helpers that cross a precision boundary return the dust they cut
off so the caller can record it instead of losing it.  Floats are refused everywhere.
"""

from __future__ import annotations

import decimal
import enum
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal

#: Mixin's kernel keeps 8 decimals; the ledger counts these units for every Mixin asset.
MIXIN_PRECISION = 8

#: Context for money arithmetic: far more digits than any amount, and loud on nonsense.
MONEY_CONTEXT = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def exact() -> AbstractContextManager[decimal.Context]:
    """``with exact():`` runs Decimal arithmetic in :data:`MONEY_CONTEXT` (the default context
    keeps only 28 digits and would round large amounts silently)."""
    return decimal.localcontext(MONEY_CONTEXT)


class Rounding(enum.Enum):
    """Which way a value that does not fit the target precision moves."""

    FLOOR = decimal.ROUND_FLOOR  # toward -infinity: what we pay out, bids
    CEILING = decimal.ROUND_CEILING  # toward +infinity: what we charge, asks
    HALF_EVEN = decimal.ROUND_HALF_EVEN  # reports only, never balances


def to_decimal(value: Decimal | str | int) -> Decimal:
    """Parse an exact decimal; floats, NaN and infinities are refused."""
    if isinstance(value, bool | float):
        raise TypeError(f"refusing {type(value).__name__} for money: use str, int or Decimal")
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def from_units(units: int, precision: int) -> Decimal:
    """The decimal value of ``units`` atomic units, exactly (no context rounding)."""
    sign = 1 if units < 0 else 0
    digits = tuple(int(d) for d in str(abs(units)))
    return Decimal((sign, digits, -precision))


def to_units(value: Decimal | str | int, precision: int, rounding: Rounding) -> int:
    """Atomic units of ``value`` at ``precision`` decimals, rounded as told."""
    scaled = to_decimal(value).scaleb(precision, MONEY_CONTEXT)
    return int(scaled.to_integral_value(rounding=rounding.value, context=MONEY_CONTEXT))


def to_units_exact(value: Decimal | str | int, precision: int) -> int:
    """Atomic units of ``value``; raises if it has more decimals than the asset allows."""
    scaled = to_decimal(value).scaleb(precision, MONEY_CONTEXT)
    integral = scaled.to_integral_value(context=MONEY_CONTEXT)
    if integral != scaled:
        raise ValueError(f"{value} has more than {precision} decimals")
    return int(integral)


def split_units(value: Decimal | str | int, precision: int) -> tuple[int, Decimal]:
    """``(units, dust)``: units rounded toward zero and the exact remainder that did not fit."""
    dec = to_decimal(value)
    units = to_units(dec, precision, Rounding.FLOOR if dec >= 0 else Rounding.CEILING)
    dust = MONEY_CONTEXT.subtract(dec, from_units(units, precision))
    return units, dust


def rescale_units(
    units: int, from_precision: int, to_precision: int, rounding: Rounding = Rounding.FLOOR
) -> tuple[int, int]:
    """Convert between precisions (chain 18 or 6 decimals <-> Mixin 8).

    Returns ``(converted, dust)`` where ``dust`` is in *source* units and
    ``converted * 10**(from-to) + dust == units`` when scaling down.  Scaling up is exact.
    """
    if to_precision >= from_precision:
        return units * 10 ** (to_precision - from_precision), 0
    factor = 10 ** (from_precision - to_precision)
    if rounding is Rounding.FLOOR:
        converted = units // factor
    elif rounding is Rounding.CEILING:
        converted = -((-units) // factor)
    else:
        converted = to_units(from_units(units, from_precision), to_precision, rounding)
    return converted, units - converted * factor


def quantize_to_step(value: Decimal, step: Decimal, rounding: Rounding) -> Decimal:
    """Round ``value`` to a multiple of ``step`` (an exchange tick or lot size)."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    steps = MONEY_CONTEXT.divide(value, step).to_integral_value(
        rounding=rounding.value, context=MONEY_CONTEXT
    )
    result = MONEY_CONTEXT.multiply(steps, step)
    exponent = step.as_tuple().exponent
    if isinstance(exponent, int) and exponent < 0:
        # Keep the step's number of decimals so "100.10" stays "100.10" on the wire.
        result = result.quantize(Decimal(1).scaleb(exponent), context=MONEY_CONTEXT)
    return result


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset as the ledger knows it: its id and how many decimals one unit has."""

    asset_id: str
    symbol: str
    precision: int = MIXIN_PRECISION

    def units(self, value: Decimal | str | int, rounding: Rounding) -> int:
        return to_units(value, self.precision, rounding)

    def units_exact(self, value: Decimal | str | int) -> int:
        return to_units_exact(value, self.precision)

    def decimal(self, units: int) -> Decimal:
        return from_units(units, self.precision)

    def format(self, units: int) -> str:
        return f"{self.decimal(units)} {self.symbol}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one asset, in atomic units."""

    asset_id: str
    units: int

    def _same(self, other: Money) -> None:
        if other.asset_id != self.asset_id:
            raise ValueError(f"cannot mix {self.asset_id} and {other.asset_id}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.asset_id, self.units + other.units)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.asset_id, self.units - other.units)

    def __neg__(self) -> Money:
        return Money(self.asset_id, -self.units)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.units < other.units

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.units <= other.units

    def is_zero(self) -> bool:
        return self.units == 0
