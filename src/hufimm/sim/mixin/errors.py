"""Errors of the simulated Mixin, answered as Mixin answers them: an HTTP 202 envelope."""

from __future__ import annotations

from typing import Any

INVALID_FIELD = 10002
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
RECIPIENT_NOT_REGISTERED = 10404
INSUFFICIENT_FEE = 20124
INVALID_TRACE = 20125
RECEIVERS_INVALID = 20150
INVALID_ADDRESS = 30102
INVALID_OUTPUT_KEY = 2000001
INPUT_LOCKED = 2000002
INVALID_SIGNATURE = 2000003


class SimError(Exception):
    def __init__(self, code: int, description: str, extra: Any = None, status: int = 202) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.extra = extra
        self.status = status

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "status": self.status,
            "code": self.code,
            "description": self.description,
        }
        if self.extra is not None:
            error["extra"] = self.extra
        return {"error": error}


def invalid(description: str, extra: Any = None) -> SimError:
    return SimError(INVALID_FIELD, description, extra)
