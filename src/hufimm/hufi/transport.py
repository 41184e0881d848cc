"""HTTP to a HuFi service: timeouts, bounded retries with jittered backoff, exact JSON.

Only failures that say *nothing was decided* are retried here: the network (connect errors,
timeouts, broken connections) and 5xx answers.  A 4xx is the service's word and goes back to
the caller at once.  Backoff sleeps on the injected clock with jitter from a seeded stream, so
a virtual-time run replays the same waits.  JSON numbers are parsed as ``Decimal``: the oracle
sends amounts and scores as numbers and a float would not round-trip them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, Stopwatch, TimeSource
from hufimm.hufi.errors import HufiProtocolError, HufiRejected, HufiUnavailable

QueryValue = str | int | list[str] | list[int]


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; wait n is ``base·2^(n-1)`` (capped) times a 0.5–1.5 jitter."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, rng: SeededRng) -> float:
        nominal = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return float(min(self.max_delay_s, nominal * (0.5 + rng.random())))


@dataclass(frozen=True)
class HufiResponse:
    """A final (non-5xx) answer: status and raw body, decoded on demand."""

    request: str
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            preview = self.body[:80].decode("utf-8", "replace")
            raise HufiProtocolError(self.request, f"response is not JSON: {preview!r}") from None

    def rejected(self) -> HufiRejected:
        """The 4xx as an error carrying the service's message and extra fields."""
        message = f"HTTP {self.status}"
        details: dict[str, Any] = {}
        validation: list[str] = []
        try:
            data = json.loads(self.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            if isinstance(data.get("message"), str):
                message = data["message"]
            if isinstance(data.get("details"), dict):
                details = data["details"]
            errors = data.get("validation_errors")
            if isinstance(errors, list):
                validation = [str(e) for e in errors]
        return HufiRejected(
            self.request, self.status, message, details=details, validation_errors=validation
        )


class HufiHttp:
    """One service's HTTP client (one connection pool) with the retry policy applied."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        time: TimeSource,
        rng: SeededRng,
        metrics: Metrics,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self._time = time
        self._rng = rng
        self.retry = retry or RetryPolicy()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"accept": "application/json"},
        )
        self._log = get_logger(f"hufi.{service}")
        self._m_requests = metrics.counter(
            "hufi_requests_total", "HuFi HTTP requests by outcome", ["service", "op", "outcome"]
        )
        self._m_retries = metrics.counter(
            "hufi_request_retries_total",
            "HuFi requests retried after a 5xx or network error",
            ["service"],
        )
        self._m_latency = metrics.histogram(
            "hufi_request_seconds", "Real time of one HuFi HTTP exchange", ["service"]
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def sleep_backoff(self, attempt: int) -> None:
        """Wait the policy's jittered delay for the ``attempt``-th retry, on the injected clock."""
        await self._time.sleep(self.retry.delay(attempt, self._rng))

    async def request(
        self,
        method: str,
        path: str,
        *,
        op: str,
        params: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HufiResponse:
        """Send with retries: the first non-5xx answer, or :class:`HufiUnavailable`."""
        name = f"{method} {path.split('?')[0]}"
        last_problem = ""
        retry_after: float | None = None
        for attempt in range(1, self.retry.attempts + 1):
            watch = Stopwatch()
            try:
                response = await self._client.request(
                    method, path, params=params, json=body, headers=headers
                )
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
                retry_after = None
                outcome = "network"
            else:
                self._m_latency.labels(self.service).observe(watch.elapsed_ns() / NS_PER_SECOND)
                if response.status_code < 500:
                    self._m_requests.labels(self.service, op, str(response.status_code)).inc()
                    return HufiResponse(name, response.status_code, response.content)
                last_problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
                outcome = "5xx"
            self._m_requests.labels(self.service, op, outcome).inc()
            if attempt == self.retry.attempts:
                break
            wait = self.retry.delay(attempt, self._rng)
            if retry_after is not None:
                wait = max(wait, min(retry_after, self.retry.max_delay_s))
            self._m_retries.labels(self.service).inc()
            self._log.warning(
                "hufi_request_retry", op=op, attempt=attempt, problem=last_problem, wait_s=wait
            )
            await self._time.sleep(wait)
        raise HufiUnavailable(
            name, f"{last_problem} after {self.retry.attempts} attempts", retry_after
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
