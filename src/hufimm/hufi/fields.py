"""Strict reading of HuFi JSON: every field checked for presence and type, with a clear path.

A response that lacks a field or carries the wrong type raises :class:`FieldError` naming the
field (``results[3].fund_amount: expected a base-unit integer string``); the clients turn it
into a protocol error of the request instead of letting a ``KeyError`` escape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hufimm.core.timesource import NS_PER_MS, datetime_to_ns

_UNITS = re.compile(r"^\d+$")


class FieldError(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class Fields:
    """Typed accessors over one JSON object found at ``where``."""

    def __init__(self, data: Any, where: str = "response") -> None:
        if not isinstance(data, dict):
            raise FieldError(where, f"expected an object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where

    def _path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def _get(self, name: str) -> Any:
        if name not in self.data:
            raise FieldError(self._path(name), "missing")
        return self.data[name]

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise FieldError(self._path(name), f"expected a string, got {value!r}")
        return value

    def opt_text(self, name: str) -> str | None:
        return None if self.data.get(name) is None else self.text(name)

    def integer(self, name: str) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(self._path(name), f"expected an integer, got {value!r}")
        return value

    def flag(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise FieldError(self._path(name), f"expected true/false, got {value!r}")
        return value

    def number(self, name: str) -> Decimal:
        """A JSON number (parsed as ``Decimal``) or a decimal string, exactly."""
        return as_decimal(self._get(name), self._path(name))

    def opt_number(self, name: str) -> Decimal | None:
        return None if self.data.get(name) is None else self.number(name)

    def units(self, name: str) -> int:
        """A base-unit integer sent as a string (the launcher's amounts)."""
        value = self._get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if not isinstance(value, str) or not _UNITS.match(value):
            raise FieldError(
                self._path(name), f"expected a base-unit integer string, got {value!r}"
            )
        return int(value)

    def iso_ns(self, name: str) -> int:
        return parse_iso_ns(self.text(name), self._path(name))

    def opt_iso_ns(self, name: str) -> int | None:
        return None if self.data.get(name) is None else self.iso_ns(name)

    def opt_ms_ns(self, name: str) -> int | None:
        """A millisecond epoch number (or null) as nanoseconds."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise FieldError(self._path(name), f"expected epoch milliseconds, got {value!r}")
        return int(value) * NS_PER_MS

    def array(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            raise FieldError(self._path(name), f"expected a list, got {type(value).__name__}")
        return value

    def obj(self, name: str) -> Fields:
        return Fields(self._get(name), self._path(name))

    def items(self, name: str) -> list[Fields]:
        return [Fields(item, f"{self._path(name)}[{i}]") for i, item in enumerate(self.array(name))]


def as_decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        raise FieldError(where, f"expected a number, got {value!r}")
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except ArithmeticError:
            parsed = Decimal("NaN")
        if parsed.is_finite():
            return parsed
    raise FieldError(where, f"expected a number, got {value!r}")


def parse_iso_ns(text: str, where: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(where, f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return datetime_to_ns(moment)
