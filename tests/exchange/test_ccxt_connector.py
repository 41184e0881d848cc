"""The ccxt connector's own duties: one throttle shared with the venue's limits, honouring 429
and Retry-After, our clock in signed requests, URL overrides, client ids, no secrets shown."""

from __future__ import annotations

import io
import logging

import pytest
import structlog
from pydantic import SecretStr

from hufimm.core.logs import configure_logging
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import NS_PER_SECOND, VirtualTimeSource
from hufimm.core.vloop import run_virtual
from hufimm.exchange import CcxtConnector, ExchangeSettings, RateLimitPool, check_client_id
from hufimm.exchange.ccxt_connector import apply_url_settings
from hufimm.market import ExchangeRejected, ExchangeRetryable, RejectReason
from hufimm.sim.exchange import FaultConfig, VenueLimits
from tests.exchange.harness import SYMBOL, connector_settings, make_venue, serving


def _pools(weight_per_minute: int) -> list[RateLimitPool]:
    return [
        RateLimitPool(name="REQUEST_WEIGHT", limit=weight_per_minute, interval_s=60),
        RateLimitPool(name="ORDERS", limit=50, interval_s=10),
        RateLimitPool(name="ORDERS_1D", limit=160_000, interval_s=86_400),
    ]


def test_our_limiter_keeps_under_the_venue_limit_without_a_single_429() -> None:
    time_source = VirtualTimeSource()
    venue = make_venue(time_source, limits=VenueLimits(request_weight_per_minute=120))

    async def main() -> float:
        async with serving(venue) as server:
            settings = connector_settings(server, rate_limits=_pools(120))
            conn = CcxtConnector(settings, time_source, SeededRng(1))
            try:
                await conn.start()  # exchangeInfo: 20
                start = time_source.monotonic_ns()
                for _ in range(40):
                    await conn.fetch_order_book(SYMBOL, 100)  # 5 each: 200 in all
                return (time_source.monotonic_ns() - start) / NS_PER_SECOND
            finally:
                await conn.close()

    elapsed = run_virtual(main(), time_source)
    # 220 weight at 108 usable per aligned minute (10 % margin): three minutes are needed,
    # and the venue never refused anything (a 429 would have raised).
    assert elapsed >= 120
    assert venue.used_weight("127.0.0.1") <= 120


def test_a_429_pauses_the_pool_for_retry_after() -> None:
    time_source = VirtualTimeSource()
    venue = make_venue(time_source, limits=VenueLimits(request_weight_per_minute=60))

    async def main() -> None:
        async with serving(venue) as server:
            # Misconfigured on purpose: we believe in 6000/min, the venue allows 60.
            conn = CcxtConnector(connector_settings(server), time_source, SeededRng(1))
            try:
                await conn.start()
                with pytest.raises(ExchangeRetryable) as limited:  # noqa: PT012 (the 9th call)
                    for _ in range(20):
                        await conn.fetch_order_book(SYMBOL, 100)
                error = limited.value
                assert error.rate_limited and not error.banned
                assert error.retry_after is not None and error.retry_after > 0
                assert conn.limiter.paused_for("REQUEST_WEIGHT") == pytest.approx(error.retry_after)
                refused_at = time_source.monotonic_ns()
                await conn.fetch_order_book(SYMBOL, 100)  # waits out the pause, then succeeds
                waited = (time_source.monotonic_ns() - refused_at) / NS_PER_SECOND
                assert waited >= error.retry_after
            finally:
                await conn.close()

    run_virtual(main(), time_source)


@pytest.mark.parametrize("rate", [0.6, 1.0])
def test_start_tries_again_after_retryable_failures_then_gives_up(rate: float) -> None:
    time_source = VirtualTimeSource()
    venue = make_venue(time_source, faults=FaultConfig(error5xx=rate))

    async def main() -> None:
        async with serving(venue) as server:
            settings = connector_settings(server, start_attempts=5)
            conn = CcxtConnector(settings, time_source, SeededRng(1))
            started = time_source.monotonic_ns()
            try:
                if rate == 1.0:
                    with pytest.raises(ExchangeRetryable):
                        await conn.start()
                    assert venue.faults.counters["error5xx"].hits == 5  # one per attempt
                else:
                    await conn.start()
                    assert conn.rules(SYMBOL).tick_size > 0
                    assert venue.faults.counters["error5xx"].hits >= 1
                assert time_source.monotonic_ns() > started  # it backed off between tries
            finally:
                await conn.close()

    run_virtual(main(), time_source)


def test_signed_requests_use_the_injected_clock() -> None:
    # The venue's clock is virtual (2026-01-01); a wall-clock timestamp would be refused -1021.
    time_source = VirtualTimeSource(start_ns=1_900_000_000 * NS_PER_SECOND)
    venue = make_venue(time_source)

    async def main() -> None:
        async with serving(venue) as server:
            conn = CcxtConnector(connector_settings(server), time_source, SeededRng(1))
            try:
                await conn.start()
                assert conn.ex.milliseconds() == time_source.time_ns() // 1_000_000
                assert "USDT" in await conn.fetch_balances()
            finally:
                await conn.close()

    run_virtual(main(), time_source)


def test_url_overrides() -> None:
    settings = ExchangeSettings(
        rest_url="http://127.0.0.1:9000",
        ws_url="ws://127.0.0.1:9000",
        url_overrides={"ws.ws-api.spot": "ws://127.0.0.1:9001/ws-api/v3"},
    )
    urls = {
        "api": {
            "public": "https://api.binance.com/api/v3",
            "ws": {
                "spot": "wss://stream.binance.com:9443/ws",
                "ws-api": {"spot": "wss://x/ws-api/v3"},
            },
        }
    }
    apply_url_settings(urls, settings)
    assert urls["api"] == {
        "public": "http://127.0.0.1:9000/api/v3",
        "ws": {
            "spot": "ws://127.0.0.1:9000/ws",
            "ws-api": {"spot": "ws://127.0.0.1:9001/ws-api/v3"},
        },
    }


def test_client_ids_are_checked_per_venue() -> None:
    assert check_client_id("binance", "hmm_0001-a")
    for exchange_id, bad in (("binance", "x" * 37), ("okx", "has-dash"), ("kraken", "x" * 19)):
        with pytest.raises(ExchangeRejected) as refused:
            check_client_id(exchange_id, bad)
        assert refused.value.reason is RejectReason.INVALID_ORDER


def test_secrets_never_show() -> None:
    settings = ExchangeSettings(api_key=SecretStr("THE-KEY"), secret=SecretStr("THE-SECRET"))
    time_source = VirtualTimeSource()
    conn = CcxtConnector(settings, time_source, SeededRng(1))
    assert "THE-SECRET" not in repr(conn) and "THE-SECRET" not in repr(settings)
    assert "THE-SECRET" not in str(settings.model_dump())
    stream = io.StringIO()
    configure_logging(time_source, "json", "DEBUG")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=stream))
    log = structlog.get_logger(component="test")
    log.warning("connector", connector=conn, api_key="THE-KEY", secret="THE-SECRET")
    assert "THE-SECRET" not in stream.getvalue() and "THE-KEY" not in stream.getvalue()
    assert logging.getLogger("ccxt").level in (logging.NOTSET, logging.WARNING)
