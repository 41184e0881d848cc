"""Binance spot error codes in the taxonomy.

Spoken by the real venue (through ccxt) and by the simulated exchange, so both the ccxt connector
and the in-process simulated connector classify them here, identically.
"""

from __future__ import annotations

from hufimm.core.errors import HufimmError
from hufimm.market.errors import (
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    RejectReason,
)

#: Binance spot error codes (also spoken by the simulated exchange) and what they mean here.
BINANCE_REJECT_CODES: dict[int, RejectReason] = {
    -1013: RejectReason.INVALID_ORDER,  # filter failure
    -1100: RejectReason.BAD_REQUEST,
    -1101: RejectReason.BAD_REQUEST,
    -1102: RejectReason.BAD_REQUEST,
    -1104: RejectReason.BAD_REQUEST,
    -1106: RejectReason.BAD_REQUEST,
    -1111: RejectReason.INVALID_ORDER,  # precision over the maximum
    -1116: RejectReason.INVALID_ORDER,  # invalid order type
    -1117: RejectReason.INVALID_ORDER,  # invalid side
    -1121: RejectReason.INVALID_ORDER,  # invalid symbol
    -1021: RejectReason.CLOCK,
    -1022: RejectReason.AUTHENTICATION,
    -2014: RejectReason.AUTHENTICATION,
    -2015: RejectReason.AUTHENTICATION,
    -2011: RejectReason.NOT_FOUND,  # cancel: not open (filled, cancelled or not arrived)
    -2013: RejectReason.NOT_FOUND,  # query: does not exist (yet)
}

#: Binance codes that say "not executed, try again" (busy, rate limits).
BINANCE_RETRYABLE_CODES = frozenset({-1003, -1008, -1015})

#: Binance codes whose outcome is unknown (the engine may have acted).
BINANCE_UNKNOWN_CODES = frozenset({-1000, -1001, -1006, -1007})


def binance_2010_reason(message: str) -> RejectReason:
    """``-2010`` covers several refusals; its message tells which."""
    lowered = message.lower()
    if "duplicate" in lowered:
        return RejectReason.DUPLICATE_CLIENT_ID
    if "immediately match" in lowered:
        return RejectReason.POST_ONLY_WOULD_CROSS
    if "insufficient balance" in lowered:
        return RejectReason.INSUFFICIENT_FUNDS
    return RejectReason.INVALID_ORDER


def classify_binance(
    code: int, msg: str, mutates: bool, text: str, retry_after: float | None = None
) -> HufimmError | None:
    """The taxonomy error for a Binance ``{code, msg}``; ``None`` for codes we do not know."""
    if code in (-1003, -1015):
        return ExchangeRetryable(text, retry_after, rate_limited=True, venue_code=code)
    if code == -2010:
        return ExchangeRejected(binance_2010_reason(msg), text, code)
    reason = BINANCE_REJECT_CODES.get(code)
    if reason is not None:
        return ExchangeRejected(reason, text, code)
    if code in BINANCE_RETRYABLE_CODES:
        return ExchangeRetryable(text, retry_after, venue_code=code)
    if code in BINANCE_UNKNOWN_CODES:
        if mutates:
            return ExchangeOutcomeUnknown(text, code)
        return ExchangeRetryable(text, retry_after, venue_code=code)
    return None
