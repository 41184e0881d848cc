"""Wire conventions shared by the simulated launcher and oracle.

The real services camelCase every input key (so ``chain_id`` and ``chainId`` both work), answer
in snake_case, write times as JavaScript ``toISOString()`` values or millisecond epochs, and
report errors as ``{"message", "timestamp", "path"}``.  Amounts the oracle sends as JSON numbers
are written here from exact ``Decimal`` values, digit for digit, so a client that parses numbers
as decimals reads back exactly what the simulation computed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hufimm.core.timesource import NS_PER_MS, datetime_to_ns, ns_to_datetime

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_key(key: str) -> str:
    """``chainId`` -> ``chain_id``; snake keys pass unchanged."""
    return _CAMEL_BOUNDARY.sub(r"_\1", key).lower()


def snake_keys(value: Any) -> Any:
    """Input normalisation: every object key in ``value`` to snake_case, recursively."""
    if isinstance(value, dict):
        return {snake_key(str(k)): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Compact JSON in which a ``Decimal`` is a number written with its exact digits."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode()


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        out.append(decimal_number(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(json.dumps(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot put {type(value).__name__} on the HuFi wire")


def decimal_number(value: Decimal) -> str:
    """A JSON number for ``value`` without exponent or trailing zeros (``1.50`` -> ``1.5``)."""
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def decimal_text(value: Decimal) -> str:
    """The same digits as :func:`decimal_number`, for fields the services send as strings."""
    return decimal_number(value)


def iso_ms(ns: int) -> str:
    """JavaScript ``Date.toISOString()``: UTC, milliseconds, ``Z``."""
    moment = ns_to_datetime(ns)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ms(ns: int | None) -> int | None:
    return None if ns is None else ns // NS_PER_MS


def parse_iso(text: str) -> int:
    """An ISO-8601 UTC time (``Z`` or offset) to epoch nanoseconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return datetime_to_ns(moment)


def error_body(message: str, path: str, now_ns: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "timestamp": iso_ms(now_ns), "path": path}
    body.update(extra)
    return body
