"""A ccxt exchange class wired to hufimm's time, rate limiter and error detail.

For any ccxt id we derive a subclass of ``ccxt.pro.<id>`` (or ``ccxt.async_support.<id>`` when
the venue has no WebSocket support) that:

* reads time from our :class:`TimeSource` (``milliseconds()``, ``seconds()``, nonces), so signed
  timestamps are virtual in a virtual-time run and match the simulated venue's clock;
* replaces ccxt's own throttle (a leaky bucket on the wall clock) by our :class:`RateLimiter`:
  ccxt still computes each endpoint's cost, we convert it to the venue's weight
  (``weight_per_cost``) and pay it, with the priority of the calling operation, in the request
  pool (plus one unit in every order pool for a new order) — one throttle, never two;
* reads every response's headers itself (``X-MBX-USED-WEIGHT-*``, ``Retry-After``) before ccxt
  raises, so concurrent calls never mix up each other's headers, and pauses the limiter on a
  429 (that pool) or a 418 (everything);
* leaves the venue's ``{code, msg}`` on the raised exception for exact classification.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
from ccxt.base.errors import DDoSProtection, ExchangeError

from hufimm.core.timesource import NS_PER_MS, NS_PER_SECOND, TimeSource
from hufimm.exchange.ratelimit import Priority, RateLimiter

_WEIGHT_HEADER = "x-mbx-used-weight-1m"


@dataclass
class _CallContext:
    priority: Priority
    extra: dict[str, float] = field(default_factory=dict)


_CALL: contextvars.ContextVar[_CallContext | None] = contextvars.ContextVar(
    "hufimm_ccxt_call", default=None
)


@contextlib.contextmanager
def call_context(
    priority: Priority, extra_costs: Mapping[str, float] | None = None
) -> Iterator[None]:
    """Requests made inside run at ``priority``; ``extra_costs`` are paid once, by the first."""
    token = _CALL.set(_CallContext(priority, dict(extra_costs or {})))
    try:
        yield
    finally:
        _CALL.reset(token)


class VenueRateLimited(DDoSProtection):  # type: ignore[misc]
    """A 429/418 answer, with the wait the venue asked for."""

    def __init__(self, message: str, retry_after: float | None, banned: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.banned = banned


@dataclass
class Hooks:
    time: TimeSource
    limiter: RateLimiter
    request_pool: str
    weight_per_cost: float


class _HookedMixin:
    """Methods placed in front of the ccxt exchange class (see the module docstring)."""

    hufimm: Hooks

    def milliseconds(self) -> int:
        return self.hufimm.time.time_ns() // NS_PER_MS

    def seconds(self) -> int:
        return self.hufimm.time.time_ns() // NS_PER_SECOND

    def microseconds(self) -> int:
        return self.hufimm.time.time_ns() // 1000

    async def throttle(self, cost: float | None = None) -> None:
        context = _CALL.get()
        priority = context.priority if context else Priority.MARKET_DATA
        weight = (1.0 if cost is None else float(cost)) * self.hufimm.weight_per_cost
        costs = {self.hufimm.request_pool: weight}
        if context and context.extra:
            costs.update(context.extra)
            context.extra = {}
        await self.hufimm.limiter.acquire(costs, priority)

    def client(self, url: str) -> Any:
        client = super().client(url)  # type: ignore[misc]
        client.throttle = self.throttle
        return client

    def handle_errors(
        self,
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: Any,
        body: Any,
        response: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        limiter = self.hufimm.limiter
        lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
        used = lowered.get(_WEIGHT_HEADER)
        if used is not None:
            with contextlib.suppress(ValueError):
                limiter.observe_used(self.hufimm.request_pool, float(used))
        if code in (418, 429):
            retry_after = _float(lowered.get("retry-after"))
            wait = retry_after if retry_after is not None else 1.0
            if code == 418:
                limiter.pause(wait)
            else:
                limiter.pause(wait, self.hufimm.request_pool)
            error = VenueRateLimited(f"{code} {reason} {body}", retry_after, banned=code == 418)
            _attach_venue_error(error, response)
            raise error
        try:
            return super().handle_errors(  # type: ignore[misc]
                code, reason, url, method, headers, body, response, request_headers, request_body
            )
        except ExchangeError as error:
            _attach_venue_error(error, response)
            raise
        except Exception as error:
            _attach_venue_error(error, response)
            raise


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _attach_venue_error(error: BaseException, response: Any) -> None:
    payload = response
    if isinstance(payload, str):
        with contextlib.suppress(ValueError):
            payload = json.loads(payload)
    if isinstance(payload, dict) and "code" in payload:
        with contextlib.suppress(TypeError, ValueError):
            error.hufimm_venue_code = int(payload["code"])  # type: ignore[attr-defined]
            error.hufimm_venue_msg = str(payload.get("msg", ""))  # type: ignore[attr-defined]


@cache
def hooked_class(exchange_id: str) -> type[Any]:
    """The hooked subclass of ccxt's class for ``exchange_id`` (WebSocket-capable if possible)."""
    base = getattr(ccxt_pro, exchange_id, None) or getattr(ccxt_async, exchange_id, None)
    if not isinstance(base, type):
        raise ValueError(f"ccxt has no exchange {exchange_id!r}")
    return type(f"Hufimm_{exchange_id}", (_HookedMixin, base), {})


def venue_error(error: BaseException) -> tuple[int | None, str]:
    """The venue's ``(code, msg)`` left on a ccxt exception, if any."""
    return getattr(error, "hufimm_venue_code", None), getattr(error, "hufimm_venue_msg", "")
