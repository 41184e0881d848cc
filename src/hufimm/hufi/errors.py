"""Errors of the HuFi client, by what the caller can do about them.

* :class:`HufiUnavailable` — the service did not answer usefully (network, timeouts, 5xx) even
  after the client's own retries: try again later.
* :class:`HufiProtocolError` — the service answered something we cannot read (not JSON, a field
  missing or of the wrong type): a later try may work, so it is retryable too, but it is
  reported as what it is, never as a crash.
* :class:`HufiRejected` — a definitive 4xx with the service's message (``422`` domain errors
  such as ``Campaign not found``, ``400`` validation errors with their list).
* :class:`HufiAuthError` — the oracle kept refusing our credentials after a fresh login.
"""

from __future__ import annotations

from typing import Any

from hufimm.core.errors import DefinitiveError, HufimmError, RetryableError


class HufiError(HufimmError):
    """Base of every HuFi client error; ``request`` names the call (``GET /campaigns``)."""

    def __init__(self, request: str, message: str) -> None:
        super().__init__(f"{request}: {message}")
        self.request = request
        self.reason = message


class HufiUnavailable(HufiError, RetryableError):
    def __init__(self, request: str, message: str, retry_after: float | None = None) -> None:
        HufiError.__init__(self, request, message)
        self.retry_after = retry_after


class HufiProtocolError(HufiError, RetryableError):
    def __init__(self, request: str, message: str) -> None:
        HufiError.__init__(self, request, message)
        self.retry_after = None


class HufiRejected(HufiError, DefinitiveError):
    """A 4xx answer: ``status``, the service's ``message`` and its extra fields."""

    def __init__(
        self,
        request: str,
        status: int,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        validation_errors: list[str] | None = None,
    ) -> None:
        text = f"{status} {message}"
        if validation_errors:
            text += f" ({'; '.join(validation_errors)})"
        HufiError.__init__(self, request, text)
        self.status = status
        self.message = message
        self.details = details or {}
        self.validation_errors = validation_errors or []


class HufiAuthError(HufiRejected):
    """The oracle refuses our credentials even after re-login (or login is cooling down)."""
