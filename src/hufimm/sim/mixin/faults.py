"""Faults the simulated Mixin injects on request, to test what the client does when Mixin fails.

Each fault matches the next ``count`` calls of a method and path prefix.  ``after=True`` lets
the call take effect first and then fails or stalls the *answer*: the timeout-after-submission
case where the caller cannot know whether its transaction went through.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FaultKind(enum.StrEnum):
    ERROR = "error"  # a Mixin error envelope (e.g. 500, 429, 10104)
    HTTP = "http"  # a bare HTTP status with a non-JSON body (e.g. 502 from a proxy)
    DELAY = "delay"  # hold the answer for delay_s (longer than the client's timeout)


@dataclass
class Fault:
    kind: FaultKind
    count: int = 1
    method: str = ""  # "" matches any
    path_prefix: str = ""
    code: int = 500
    status: int = 503
    delay_s: float = 0.0
    after: bool = False
    description: str = "injected fault"

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and (not self.method or self.method.upper() == method)
            and path.startswith(self.path_prefix)
        )


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.fired: list[tuple[str, str, FaultKind]] = []

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this call (consumed), or ``None``."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.count -= 1
                self.fired.append((method, path, fault.kind))
                return fault
        return None

    @property
    def armed(self) -> int:
        return sum(f.count for f in self._faults)
