"""RFC 3339 timestamps with nanoseconds, as Mixin writes them (Go's ``RFC3339Nano``).

Go trims trailing zeros of the fraction, so two timestamps do not sort as text; compare the
parsed nanoseconds instead.
"""

from __future__ import annotations

import calendar
import re
import time

_PATTERN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})"
)
NS_PER_SECOND = 1_000_000_000


def format_rfc3339_nano(ns: int) -> str:
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        base += "." + f"{fraction:09d}".rstrip("0")
    return base + "Z"


def parse_rfc3339_nano(text: str) -> int:
    """Epoch nanoseconds of an RFC 3339 timestamp; raises ``ValueError`` on anything else."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * NS_PER_SECOND + int(fraction.ljust(9, "0") or "0")
