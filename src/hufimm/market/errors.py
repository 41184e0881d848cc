"""The error taxonomy every caller of a connector relies on.

Three kinds, built on :mod:`hufimm.core.errors`:

* :class:`ExchangeRetryable` — nothing happened on the venue; the same request may be sent
  again after ``retry_after`` seconds (network failure before sending, 429/418, a 5xx the venue
  marks as not executed, any failure of a read).
* :class:`ExchangeRejected` — the venue refused for good; ``reason`` says why, so callers branch
  on :class:`RejectReason` and never on message text.
* :class:`ExchangeOutcomeUnknown` — a mutation may or may not have taken effect (timeout or 5xx
  after sending): read the venue (order by client id) before anything else.

The taxonomy lives in ``market`` (not ``exchange``) so that the simulated exchange, which may
import only ``core`` and ``market``, raises exactly the errors a real connector raises.
"""

from __future__ import annotations

import enum

from hufimm.core.errors import DefinitiveError, OutcomeUnknown, RetryableError


class RejectReason(enum.StrEnum):
    NOT_FOUND = "not_found"  # order does not exist (or is no longer open, for a cancel)
    DUPLICATE_CLIENT_ID = "duplicate_client_id"  # an open order holds the id: adopt it
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_ORDER = "invalid_order"  # filters, bad price/qty, unknown symbol
    AUTHENTICATION = "authentication"  # bad key or signature
    CLOCK = "clock"  # timestamp outside recvWindow: never reached the engine
    BAD_REQUEST = "bad_request"


class ExchangeRetryable(RetryableError):
    """Nothing happened; retry later.  ``rate_limited`` marks a 429/418 answer."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        rate_limited: bool = False,
        banned: bool = False,
        venue_code: int | None = None,
    ) -> None:
        super().__init__(message, retry_after)
        self.rate_limited = rate_limited or banned
        self.banned = banned
        self.venue_code = venue_code


class ExchangeRejected(DefinitiveError):
    """The venue refused; resending the same request cannot succeed."""

    def __init__(self, reason: RejectReason, message: str, venue_code: int | None = None) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.venue_code = venue_code


class ExchangeOutcomeUnknown(OutcomeUnknown):
    """The request may have been executed; resolve by reading before acting again."""

    def __init__(self, message: str, venue_code: int | None = None) -> None:
        super().__init__(message)
        self.venue_code = venue_code
