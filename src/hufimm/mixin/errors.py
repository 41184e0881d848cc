"""Mixin's error envelope mapped to the kinds callers branch on.

Mixin answers errors with HTTP 200/202 and ``{"error": {"code": N, ...}}``; the code decides
whether the same request may succeed later (rate limit, address still generating, not enough
funds yet, recipient without Safe yet) or never will (bad field, bad signature).  A request that
may have reached Mixin but got no answer (timeout, 5xx) is an *unknown outcome*: the caller
reads Mixin (by request id) before anything else.
"""

from __future__ import annotations

from typing import Any

from hufimm.core.errors import (
    DefinitiveError,
    HufimmError,
    NotFound,
    OutcomeUnknown,
    RetryableError,
)

# Codes from the reference's table.
BAD_REQUEST = 400
INVALID_FIELD = 10002
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
RATE_LIMITED = 429
SERVER_ERROR = 500
ADDRESS_GENERATING = 10104
LOCKED_BY_ANOTHER = 10105
RECIPIENT_NOT_REGISTERED = 10404
INSUFFICIENT_BALANCE = 20117
INSUFFICIENT_FEE = 20124
INVALID_TRACE = 20125
WITHDRAWAL_TOO_SMALL = 20127
WITHDRAWAL_TOO_LARGE = 20134
WITHDRAWAL_FEE_TOO_SMALL = 20135
RECEIVERS_INVALID = 20150
INVALID_ADDRESS = 30102
BLAZE_ERROR = 7000
BLAZE_TIMEOUT = 7001
INVALID_OUTPUT_KEY = 2000001
INPUT_LOCKED = 2000002
INVALID_SIGNATURE = 2000003

RETRYABLE_CODES = frozenset(
    {
        RATE_LIMITED,
        SERVER_ERROR,
        BLAZE_ERROR,
        BLAZE_TIMEOUT,
        ADDRESS_GENERATING,
        LOCKED_BY_ANOTHER,
        RECIPIENT_NOT_REGISTERED,
        INSUFFICIENT_BALANCE,
        INSUFFICIENT_FEE,
        INPUT_LOCKED,
    }
)


class MixinError(HufimmError):
    """An answer or a failure of the Mixin API; ``code`` is Mixin's (0 for transport failures)."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        status: int = 0,
        extra: Any = None,
        request_id: str = "",
    ) -> None:
        HufimmError.__init__(self, message)
        self.code = code
        self.status = status
        self.extra = extra
        self.request_id = request_id
        self.retry_after: float | None = None


class MixinRetryable(MixinError, RetryableError):
    """Mixin refused for now (rate limit, funds, lock); the same request may succeed later."""


class MixinDefinitive(MixinError, DefinitiveError):
    """Mixin refused for good; sending the same request again cannot succeed."""


class MixinNotFound(MixinError, NotFound):
    """404: no such user, snapshot, asset, or no request registered under that id."""


class MixinUnavailable(MixinError, RetryableError):
    """Mixin could not be reached before the request was sent; nothing happened."""


class MixinOutcomeUnknown(MixinError, OutcomeUnknown):
    """The request may have been processed (timeout, 5xx, dropped connection)."""


class MixinProtocolError(MixinDefinitive):
    """The answer did not have the shape the protocol promises."""


def error_from_envelope(error: dict[str, Any], request_id: str = "") -> MixinError:
    code = int(error.get("code") or 0)
    description = str(error.get("description") or "")
    status = int(error.get("status") or 0)
    message = f"mixin error {code}: {description}" if description else f"mixin error {code}"
    kwargs: dict[str, Any] = {
        "code": code,
        "status": status,
        "extra": error.get("extra"),
        "request_id": request_id,
    }
    if code == NOT_FOUND:
        return MixinNotFound(message, **kwargs)
    if code in RETRYABLE_CODES:
        return MixinRetryable(message, **kwargs)
    return MixinDefinitive(message, **kwargs)
