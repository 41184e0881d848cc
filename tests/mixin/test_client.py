"""The client's envelope and transport mapping, and the exact bytes it signs."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from hufimm.core.errors import DefinitiveError, OutcomeUnknown, RetryableError
from hufimm.core.ids import IdFactory
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import VirtualTimeSource
from hufimm.mixin.client import MixinClient
from hufimm.mixin.errors import (
    MixinDefinitive,
    MixinNotFound,
    MixinOutcomeUnknown,
    MixinRetryable,
    MixinUnavailable,
    error_from_envelope,
)
from hufimm.mixin.keystore import Keystore
from hufimm.sim.mixin import Fault, FaultKind, MixinSimApp, MixinWorld
from hufimm.sim.mixin.records import USDT_ERC20


@pytest.fixture
async def pair() -> AsyncIterator[tuple[MixinSimApp, MixinClient]]:
    time_source = VirtualTimeSource()
    world = MixinWorld(time_source, seed=4)
    bot = world.add_user("bot")
    app = MixinSimApp(world)
    keystore = Keystore.from_hex(bot.user_id, bot.session_id, bot.session_private_key)
    client = MixinClient(
        keystore,
        time_source,
        IdFactory(time_source, SeededRng(2)),
        base_url="http://mixin.test",
        transport=httpx.ASGITransport(app=app),
    )
    yield app, client
    await client.aclose()


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (429, MixinRetryable),
        (10104, MixinRetryable),
        (20117, MixinRetryable),
        (10002, MixinDefinitive),
    ],
)
async def test_error_codes_map_to_kinds(
    pair: tuple[MixinSimApp, MixinClient], code: int, kind: type[Exception]
) -> None:
    app, client = pair
    app.faults.add(Fault(FaultKind.ERROR, code=code, path_prefix="/safe/me"))
    with pytest.raises(kind) as raised:
        await client.me()
    assert raised.value.code == code  # type: ignore[attr-defined]


async def test_5xx_is_retryable_for_reads_and_unknown_for_writes(
    pair: tuple[MixinSimApp, MixinClient],
) -> None:
    app, client = pair
    app.faults.add(Fault(FaultKind.HTTP, status=502, method="GET"))
    with pytest.raises(MixinUnavailable) as read:
        await client.me()
    assert isinstance(read.value, RetryableError)
    app.faults.add(Fault(FaultKind.HTTP, status=503, method="POST"))
    with pytest.raises(MixinOutcomeUnknown) as write:
        await client.assets([USDT_ERC20])
    assert isinstance(write.value, OutcomeUnknown)


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    time_source = VirtualTimeSource()
    keystore = Keystore.from_hex(
        "11111111-2222-4333-8444-555555555555", "11111111-2222-4333-8444-555555555556", "00" * 32
    )
    client = MixinClient(
        keystore,
        time_source,
        IdFactory(time_source, SeededRng(1)),
        base_url=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(MixinUnavailable):
        await client.asset(USDT_ERC20)
    await client.aclose()


async def test_queries_and_unicode_bodies_are_signed_as_sent(
    pair: tuple[MixinSimApp, MixinClient],
) -> None:
    _, client = pair
    # ':' and '+' in the offset, non-ASCII in a body: the simulator recomputes sig from raw bytes
    assert await client.snapshots(offset="2026-01-01T00:00:00.5+00:00", limit=3) == []
    assert await client.users(["ünïcode-id"]) == []


def test_unknown_codes_are_definitive_and_404_is_not_found() -> None:
    assert isinstance(error_from_envelope({"code": 99999}), DefinitiveError)
    assert isinstance(error_from_envelope({"code": 404}), MixinNotFound)


def test_keystore_never_shows_its_seeds() -> None:
    keystore = Keystore.from_hex(
        "11111111-2222-4333-8444-555555555555",
        "11111111-2222-4333-8444-555555555556",
        "ab" * 32,
        "cd" * 32,
    )
    assert "abab" not in repr(keystore) and "cdcd" not in repr(keystore)
