"""Wallet auth against the simulated oracle over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from pydantic import SecretStr

from hufimm.core.errors import ConfigError
from hufimm.hufi.auth import AuthPolicy
from hufimm.hufi.errors import HufiAuthError
from hufimm.hufi.signing import WalletSigner, nonce_message
from hufimm.sim.hufi import Fault
from tests.hufi.support import VECTOR_ADDRESS, VECTOR_KEY, hufi_env, wallet_key


def test_signature_vector_of_the_reference() -> None:
    signer = WalletSigner(SecretStr(VECTOR_KEY))
    assert signer.address == VECTOR_ADDRESS
    assert signer.sign_text("Permanent message to validate exact signature") == (
        "0x40549411f0ac5e8af988657d632e41294a1fdfdc00fc1f7a4607376e867b7c38"
        "715c009245d0aa7b94277fad7eaf7f96aa45ea9dcbae7275bce5a88d7ea6a7151b"
    )
    assert nonce_message("signup") == '{"nonce":"signup"}'
    assert signer.sign_nonce("signup") == (
        "0x26071a4cc5661ab6d586c29b755bb6bd9262437c5e2fb83ed1860a99150b0b3c"
        "16e86339c7835ec6a206923fb884fc7c3f69e135bf85dfc88c4a6d05229f82371c"
    )
    assert VECTOR_KEY not in repr(signer)


def test_a_bad_wallet_key_is_a_config_error_without_the_key() -> None:
    with pytest.raises(ConfigError, match=r"hufi\.wallet_private_key") as caught:
        WalletSigner(SecretStr("0xnot-a-key"))
    assert "not-a-key" not in str(caught.value)


async def test_first_login_signs_signup_then_the_nonce_rotates() -> None:
    async with hufi_env() as env:
        wallet = env.wallet(VECTOR_KEY)
        async with httpx.AsyncClient(base_url=env.urls.oracle) as raw:
            first = await raw.post("/auth/nonce", json={"address": VECTOR_ADDRESS})
            assert first.json() == {"nonce": "signup"}
            profile = await wallet.oracle.me()
            assert profile.evm_address == VECTOR_ADDRESS
            rotated = (await raw.post("/auth/nonce", json={"address": VECTOR_ADDRESS})).json()
            assert re.fullmatch(r"[0-9a-f]{32}", rotated["nonce"])
            # The signup signature is spent: replaying it is an invalid signature now.
            replay = await raw.post(
                "/auth",
                json={"address": VECTOR_ADDRESS, "signature": wallet.signer.sign_nonce("signup")},
            )
            assert replay.status_code == 401
            assert replay.json()["message"] == "Invalid signature"
            # camelCase input keys work too.
            camel = await raw.post("/auth/nonce", json={"Address": VECTOR_ADDRESS})
            assert camel.status_code == 200


async def test_refresh_rotates_the_single_refresh_token() -> None:
    async with hufi_env() as env:
        wallet = env.wallet(wallet_key("rotation"))
        await wallet.oracle.me()
        old_refresh = wallet.session._refresh
        assert env.world.oracle.logins == 1
        env.time.advance(600 - 60 + 1)  # inside the renewal window of the 600 s JWT
        await wallet.oracle.me()
        assert (env.world.oracle.logins, env.world.oracle.refreshes) == (1, 1)
        assert wallet.session._refresh != old_refresh
        async with httpx.AsyncClient(base_url=env.urls.oracle) as raw:
            stale = await raw.post("/auth/refresh", json={"refresh_token": old_refresh})
        assert stale.status_code == 401
        assert stale.json()["message"] == "Refresh token is not valid"


async def test_relogin_after_the_refresh_token_expired() -> None:
    async with hufi_env() as env:
        # Our lifetime hint is wrong on purpose: the refresh is tried and refused as expired.
        wallet = env.wallet(wallet_key("expiry"), policy=AuthPolicy(refresh_ttl_s=10**6))
        await wallet.oracle.me()
        env.time.advance(3601)  # the oracle's refresh token (3600 s) is dead
        await wallet.oracle.me()
        assert env.world.oracle.logins == 2
        assert env.metrics.value("hufi_auth_total", {"kind": "refresh", "outcome": "refused"}) == 1
        # With the right hint, an expired refresh token is not even tried.
        other = env.wallet(wallet_key("expiry-hinted"))
        await other.oracle.me()
        env.time.advance(3601)
        await other.oracle.me()
        assert env.world.oracle.logins == 4
        assert env.metrics.value("hufi_auth_total", {"kind": "refresh", "outcome": "refused"}) == 1


async def test_concurrent_callers_share_one_login_and_one_refresh() -> None:
    async with hufi_env() as env:
        wallet = env.wallet(wallet_key("shared"))
        await asyncio.gather(*(wallet.oracle.me() for _ in range(20)))
        assert env.world.oracle.logins == 1
        assert env.world.oracle_faults.count("POST", "/auth/nonce") == 1
        env.time.advance(590)
        await asyncio.gather(*(wallet.oracle.me() for _ in range(20)))
        assert (env.world.oracle.logins, env.world.oracle.refreshes) == (1, 1)


async def test_two_owners_of_one_wallet_never_lock_each_other_out() -> None:
    async with hufi_env() as env:
        key = wallet_key("two-processes")
        first, second = env.wallet(key), env.wallet(key)
        for _ in range(8):
            profiles = await asyncio.gather(first.oracle.me(), second.oracle.me())
            assert profiles[0].id == profiles[1].id
            env.time.advance(700)  # both access tokens expire; each refresh undoes the other's
        # Every round succeeded; the invalidated owner always found its way back by login.
        assert env.world.oracle.logins >= 2
        assert env.world.oracle_faults.count("DELETE") == 0


async def test_nonce_race_between_owners_is_retried() -> None:
    async with hufi_env() as env:
        key = wallet_key("race")
        first, second = env.wallet(key), env.wallet(key)
        await first.oracle.me()
        await second.oracle.me()  # both now hold tokens; the stored nonce rotated twice
        env.time.advance(3700)
        # Both log in at once: the first /auth is held back on the wire long enough for the
        # other owner to fetch the same nonce and log in, so the held signature is stale.
        env.world.oracle_faults.add(
            Fault("delay", path="/auth", method="POST", delay_s=0.5, exact=True)
        )
        await asyncio.gather(first.oracle.me(), second.oracle.me())
        refused = env.metrics.value("hufi_auth_total", {"kind": "login", "outcome": "refused"})
        assert refused >= 1
        assert env.time.sleeps  # the loser waited a jittered backoff before its retry


async def test_a_401_loop_is_a_clear_error_with_backoff_and_a_cooldown() -> None:
    async with hufi_env() as env:
        wallet = env.wallet(wallet_key("loop"))
        env.world.oracle_faults.add(Fault("unauthorized", path="/me", times=-1))
        with pytest.raises(HufiAuthError, match="refused 3 fresh access tokens"):
            await wallet.oracle.me()
        assert env.world.oracle_faults.count("GET", "/me") == 3
        assert len(env.time.sleeps) == 2
        # Login itself refused every time: the session cools down instead of hammering.
        env.world.oracle_faults.clear()
        env.world.oracle_faults.add(Fault("unauthorized", path="/auth", times=-1))
        wallet.session.invalidate(wallet.session._access or "")
        wallet.session._refresh = None
        with pytest.raises(HufiAuthError, match="login refused"):
            await wallet.oracle.me()
        attempts = env.world.oracle_faults.count("POST", "/auth/nonce")
        with pytest.raises(HufiAuthError, match="cooling down"):
            await wallet.oracle.me()
        assert env.world.oracle_faults.count("POST", "/auth/nonce") == attempts
        env.world.oracle_faults.clear()
        env.time.advance(31)
        assert (await wallet.oracle.me()).evm_address == wallet.address
        assert env.world.oracle_faults.count("DELETE") == 0
