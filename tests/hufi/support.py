"""Test support for the HuFi client: a simulated world served on loopback, wallets, clocks.

The services run in the test's own event loop (uvicorn on 127.0.0.1, port 0).  Business time —
JWT expiry, cycles, nonces — lives on a :class:`SteppingTime`, a virtual clock whose ``sleep``
moves it forward at once and records the wait, so backoff is observable and costs no real time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource, VirtualTimeSource
from hufimm.hufi.auth import AuthPolicy, TokenStore, WalletSession
from hufimm.hufi.joiner import KeyInspector
from hufimm.hufi.launcher import CampaignLauncherClient
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.hufi.service import HufiService
from hufimm.hufi.settings import HufiSettings
from hufimm.hufi.signing import WalletSigner
from hufimm.hufi.transport import HufiHttp, RetryPolicy
from hufimm.market import Side
from hufimm.sim.hufi import (
    ENROLMENT_PERMISSIONS,
    HufiUrls,
    HufiWorld,
    SimTrade,
    TradeBook,
    serve_hufi,
)
from hufimm.store.db import Database

#: The reference's test vector key (RO web3.spec.ts).
VECTOR_KEY = "cb254fa8bde66d324fda07f6c00002ba73fc74f88edbea8006668c161590ba82"
VECTOR_ADDRESS = "0x208E32c5C40923C5d0095df74aF8CD0c3e0d0898"


class SteppingTime(VirtualTimeSource):
    """Virtual time whose ``sleep`` advances the clock immediately and records the wait."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


def wallet_key(name: str) -> str:
    return hashlib.sha256(f"hufi-test-wallet/{name}".encode()).hexdigest()


@dataclass
class Wallet:
    signer: WalletSigner
    session: WalletSession
    oracle: RecordingOracleClient
    http: HufiHttp

    @property
    def address(self) -> str:
        return self.signer.address


@dataclass
class HufiEnv:
    time: SteppingTime
    world: HufiWorld
    book: TradeBook
    urls: HufiUrls
    metrics: Metrics
    rng: SeededRng
    _closers: list[HufiHttp] = field(default_factory=list)
    launcher: CampaignLauncherClient = field(init=False)

    def __post_init__(self) -> None:
        self.launcher = CampaignLauncherClient(self.http(self.urls.launcher, "launcher"))

    def http(
        self, base_url: str, service: str, *, attempts: int = 4, timeout_s: float = 5.0
    ) -> HufiHttp:
        http = HufiHttp(
            base_url,
            service=service,
            time=self.time,
            rng=self.rng.child(f"{service}-{len(self._closers)}"),
            metrics=self.metrics,
            timeout_s=timeout_s,
            retry=RetryPolicy(attempts=attempts, base_delay_s=0.5, max_delay_s=30.0),
        )
        self._closers.append(http)
        return http

    def wallet(
        self, key: str, *, policy: AuthPolicy | None = None, store: TokenStore | None = None
    ) -> Wallet:
        """A wallet with its own session (one per process in production)."""
        signer = WalletSigner(SecretStr(key))
        http = self.http(self.urls.oracle, "oracle")
        session = WalletSession(
            http, signer, time=self.time, metrics=self.metrics, policy=policy, store=store
        )
        return Wallet(signer, session, RecordingOracleClient(http, session), http)

    def exchange_account(
        self,
        exchange: str,
        account: str,
        *,
        permissions: tuple[str, ...] = ENROLMENT_PERMISSIONS,
        eth_address: str | None = None,
    ) -> tuple[str, str]:
        """An account with a key on the simulated exchange; returns ``(api_key, secret)``."""
        self.book.add_account(
            exchange,
            account,
            eth_address=eth_address or "0x" + hashlib.sha256(account.encode()).hexdigest()[:40],
        )
        api_key, secret = f"key-{account}", f"secret-{account}"
        self.book.issue_key(exchange, account, api_key, secret, permissions)
        return api_key, secret

    async def aclose(self) -> None:
        for http in self._closers:
            await http.aclose()


def trade(
    trade_id: str,
    ts_ns: int,
    side: Side,
    price: str,
    qty: str,
    *,
    maker: bool,
    symbol: str = "HMT/USDT",
) -> SimTrade:
    p, q = Decimal(price), Decimal(qty)
    return SimTrade(trade_id, symbol, side, p, q, p * q, maker, ts_ns)


@asynccontextmanager
async def hufi_env(
    seed: int = 7, exchanges: tuple[str, ...] = ("mexc", "bybit", "gate", "kucoin")
) -> AsyncIterator[HufiEnv]:
    time = SteppingTime()
    rng = SeededRng(seed)
    book = TradeBook(exchanges)
    world = HufiWorld(time, rng.child("world"), book)
    async with serve_hufi(world) as urls:
        env = HufiEnv(time, world, book, urls, Metrics(), rng)
        try:
            yield env
        finally:
            await env.aclose()


def in_process_world(seed: int = 11) -> tuple[SteppingTime, TradeBook, HufiWorld]:
    """A world for domain tests, reached through httpx's ASGI transport (no sockets)."""
    time = SteppingTime()
    book = TradeBook(("mexc", "bybit", "gate", "kucoin"))
    world = HufiWorld(time, SeededRng(seed).child("world"), book)
    return time, book, world


def service_settings(**overrides: Any) -> HufiSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "launcher_url": "http://launcher.sim",
        "oracle_url": "http://oracle.sim",
        "chains": [137],
        "wallet_private_key": wallet_key("ours"),
        "markets": [{"exchange": "mexc", "symbol": "HMT/USDT", "account": "ours"}],
        "exchange_keys": [
            {
                "exchange": "mexc",
                "api_key": "key-ours",
                "secret_key": "secret-ours",
                "read_only": True,
            }
        ],
        "request_attempts": 2,
    }
    values.update(overrides)
    return HufiSettings.model_validate(values)


def asgi_service(
    settings: HufiSettings,
    db: Database,
    time: TimeSource,
    world: HufiWorld,
    metrics: Metrics,
    key_inspector: KeyInspector | None = None,
) -> HufiService:
    world.oracle.results_base_url = settings.oracle_url
    return HufiService(
        settings,
        db,
        time,
        SeededRng(5),
        metrics,
        launcher_transport=httpx.ASGITransport(app=world.launcher_app()),
        oracle_transport=httpx.ASGITransport(app=world.oracle_app()),
        key_inspector=key_inspector,
    )
