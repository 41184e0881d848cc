"""Error types shared by every layer.

Callers branch on the *kind* of failure, never on message text: a retryable failure may be
tried again, a definitive one never will succeed as sent, and an unknown outcome must be
resolved by reading the other side before anything else is attempted (DESIGN §2.4).
"""

from __future__ import annotations


class HufimmError(Exception):
    """Base of every error hufimm raises on purpose."""


class ConfigError(HufimmError):
    """A setting is missing or invalid; start-up stops with one line naming the key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class InvalidInput(HufimmError):
    """A caller passed a value that can never be valid (negative amount, unknown asset...)."""


class NotFound(HufimmError):
    """The thing asked for does not exist (definitively, as far as the answering side knows)."""


class Conflict(HufimmError):
    """The request contradicts recorded state (same idempotency key, another payload)."""


class RetryableError(HufimmError):
    """Nothing happened on the other side; the same request may be sent again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DefinitiveError(HufimmError):
    """The other side refused the request for good; resending it unchanged cannot succeed."""


class OutcomeUnknown(HufimmError):
    """The request may or may not have taken effect: read the other side before anything."""
