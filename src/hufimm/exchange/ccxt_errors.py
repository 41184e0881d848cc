"""Mapping ccxt exceptions (and the venue's own codes behind them) onto the taxonomy.

The venue's code decides when we have it (Binance-style ``{code, msg}``, including the simulated
exchange); otherwise ccxt's exception class does.  What a failure means depends on the call: a
failed *read* never changed anything, so network trouble is simply retryable; a failed
*mutation* (create, cancel) is UNKNOWN unless the failure proves the request was never acted on.
"""

from __future__ import annotations

import asyncio
import enum
import socket

import aiohttp
from ccxt.base import errors as cx

from hufimm.core.errors import HufimmError
from hufimm.exchange.ccxt_venue import VenueRateLimited, venue_error
from hufimm.market.binance_codes import classify_binance
from hufimm.market.errors import (
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    RejectReason,
)


class Operation(enum.Enum):
    READ = "read"
    CREATE = "create"
    CANCEL = "cancel"

    @property
    def mutates(self) -> bool:
        return self is not Operation.READ


_CLASS_REASONS: tuple[tuple[type[BaseException], RejectReason], ...] = (
    (cx.OrderNotFound, RejectReason.NOT_FOUND),
    (cx.DuplicateOrderId, RejectReason.DUPLICATE_CLIENT_ID),
    (cx.OrderImmediatelyFillable, RejectReason.POST_ONLY_WOULD_CROSS),
    (cx.InsufficientFunds, RejectReason.INSUFFICIENT_FUNDS),
    (cx.AuthenticationError, RejectReason.AUTHENTICATION),
    (cx.PermissionDenied, RejectReason.AUTHENTICATION),
    (cx.AccountSuspended, RejectReason.AUTHENTICATION),
    (cx.BadSymbol, RejectReason.INVALID_ORDER),
    (cx.InvalidOrder, RejectReason.INVALID_ORDER),
    (cx.BadRequest, RejectReason.BAD_REQUEST),
    (cx.ArgumentsRequired, RejectReason.BAD_REQUEST),
    (cx.NotSupported, RejectReason.BAD_REQUEST),
)


def _never_sent(error: BaseException) -> bool:
    """A connection that was refused or never resolved cannot have carried the request."""
    cause = error.__cause__
    return isinstance(
        cause, aiohttp.ClientConnectorError | socket.gaierror | ConnectionRefusedError
    )


def classify(error: BaseException, operation: Operation, context: str = "") -> HufimmError:
    """The taxonomy error for ``error`` raised by ``operation`` (never swallows cancellation)."""
    if isinstance(error, asyncio.CancelledError):
        raise error
    if isinstance(error, HufimmError):
        return error
    where = f"{context}: " if context else ""
    text = f"{where}{type(error).__name__}: {error}"
    code, msg = venue_error(error)
    if isinstance(error, VenueRateLimited):
        return ExchangeRetryable(
            text, error.retry_after, rate_limited=True, banned=error.banned, venue_code=code
        )
    if isinstance(error, cx.RateLimitExceeded | cx.DDoSProtection) or code in (-1003, -1015):
        return ExchangeRetryable(text, None, rate_limited=True, venue_code=code)
    if code is not None:
        mapped = classify_binance(code, msg, operation.mutates, text)
        if mapped is not None:
            return mapped
    if isinstance(error, cx.InvalidNonce) and not isinstance(error, cx.ChecksumError):
        return ExchangeRejected(RejectReason.CLOCK, text, code)
    for cls, reason in _CLASS_REASONS:
        if isinstance(error, cls):
            return ExchangeRejected(reason, text, code)
    if not operation.mutates:
        return ExchangeRetryable(text, venue_code=code)
    if isinstance(error, cx.NetworkError) and _never_sent(error):
        return ExchangeRetryable(text, venue_code=code)
    # Anything else after a mutation may have been sent (timeouts, 5xx, resets, garbage).
    return ExchangeOutcomeUnknown(text, code)
