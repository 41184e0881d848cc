"""ccxt exceptions (with the venue's code when there is one) → the taxonomy."""

from __future__ import annotations

import aiohttp
import pytest
from ccxt.base import errors as cx

from hufimm.exchange import Operation, classify
from hufimm.exchange.ccxt_venue import VenueRateLimited
from hufimm.market import (
    ExchangeOutcomeUnknown,
    ExchangeRejected,
    ExchangeRetryable,
    RejectReason,
)


def with_code(error: Exception, code: int, msg: str = "") -> Exception:
    error.hufimm_venue_code = code  # type: ignore[attr-defined]
    error.hufimm_venue_msg = msg  # type: ignore[attr-defined]
    return error


def sent_then(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


CREATE, CANCEL, READ = Operation.CREATE, Operation.CANCEL, Operation.READ
R = RejectReason


@pytest.mark.parametrize(
    ("error", "operation", "kind", "reason"),
    [
        (
            with_code(cx.InvalidOrder("x"), -2010, "Duplicate order sent."),
            CREATE,
            ExchangeRejected,
            R.DUPLICATE_CLIENT_ID,
        ),
        (
            with_code(cx.ExchangeError("x"), -2010, "Order would immediately match and take."),
            CREATE,
            ExchangeRejected,
            R.POST_ONLY_WOULD_CROSS,
        ),
        (
            with_code(
                cx.InsufficientFunds("x"),
                -2010,
                "Account has insufficient balance for requested action.",
            ),
            CREATE,
            ExchangeRejected,
            R.INSUFFICIENT_FUNDS,
        ),
        (
            with_code(cx.InvalidOrder("x"), -1013, "Filter failure: LOT_SIZE"),
            CREATE,
            ExchangeRejected,
            R.INVALID_ORDER,
        ),
        (with_code(cx.OrderNotFound("x"), -2011), CANCEL, ExchangeRejected, R.NOT_FOUND),
        (with_code(cx.OrderNotFound("x"), -2013), READ, ExchangeRejected, R.NOT_FOUND),
        (with_code(cx.InvalidNonce("x"), -1021), CREATE, ExchangeRejected, R.CLOCK),
        (with_code(cx.AuthenticationError("x"), -1022), READ, ExchangeRejected, R.AUTHENTICATION),
        (with_code(cx.ExchangeError("x"), -1007), CREATE, ExchangeOutcomeUnknown, None),
        (with_code(cx.ExchangeError("x"), -1007), READ, ExchangeRetryable, None),
        (with_code(cx.ExchangeError("x"), -1008), CREATE, ExchangeRetryable, None),
        (with_code(cx.OperationFailed("x"), -1001), CANCEL, ExchangeOutcomeUnknown, None),
        (VenueRateLimited("429", 7.0, banned=False), CREATE, ExchangeRetryable, None),
        (cx.RequestTimeout("timeout"), CREATE, ExchangeOutcomeUnknown, None),
        (cx.RequestTimeout("timeout"), READ, ExchangeRetryable, None),
        (cx.ExchangeNotAvailable("503"), CANCEL, ExchangeOutcomeUnknown, None),
        (cx.ExchangeError("plain"), CREATE, ExchangeOutcomeUnknown, None),
        (cx.BadResponse("garbage"), CREATE, ExchangeOutcomeUnknown, None),
        (
            sent_then(cx.ExchangeNotAvailable("down"), ConnectionRefusedError()),
            CREATE,
            ExchangeRetryable,
            None,
        ),
        (
            sent_then(cx.ExchangeNotAvailable("reset"), aiohttp.ServerDisconnectedError()),
            CREATE,
            ExchangeOutcomeUnknown,
            None,
        ),
        # Venues other than Binance: ccxt's class decides.
        (cx.DuplicateOrderId("okx 51016"), CREATE, ExchangeRejected, R.DUPLICATE_CLIENT_ID),
        (cx.OrderImmediatelyFillable("x"), CREATE, ExchangeRejected, R.POST_ONLY_WOULD_CROSS),
        (cx.InsufficientFunds("x"), CREATE, ExchangeRejected, R.INSUFFICIENT_FUNDS),
        (cx.BadSymbol("x"), READ, ExchangeRejected, R.INVALID_ORDER),
        (cx.RateLimitExceeded("x"), READ, ExchangeRetryable, None),
    ],
)
def test_classification(
    error: Exception, operation: Operation, kind: type, reason: RejectReason | None
) -> None:
    result = classify(error, operation)
    assert type(result) is kind
    if reason is not None:
        assert isinstance(result, ExchangeRejected) and result.reason is reason


def test_rate_limits_carry_the_wait_and_cancellation_is_never_swallowed() -> None:
    limited = classify(VenueRateLimited("418", 120.0, banned=True), Operation.READ)
    assert isinstance(limited, ExchangeRetryable)
    assert (limited.retry_after, limited.rate_limited, limited.banned) == (120.0, True, True)
    import asyncio

    with pytest.raises(asyncio.CancelledError):
        classify(asyncio.CancelledError(), Operation.CREATE)
