"""Secrets: settings keep them masked, persisted refresh tokens are encrypted at rest."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from hufimm.core.errors import ConfigError
from hufimm.core.timesource import VirtualTimeSource
from hufimm.hufi.secretbox import SecretBox
from hufimm.hufi.tables import auth_tokens
from hufimm.hufi.token_store import DbTokenStore
from hufimm.settings import load_settings
from hufimm.store.db import Database
from tests.hufi.support import hufi_env, wallet_key

_KEY = "6QhZ4NqJ0kYJ3mZQy8v5Qe6rJ3nH2xWm7VfK1cTgA9s="  # a fixed Fernet key for the test


def test_refresh_tokens_are_sealed_at_rest(db: Database) -> None:
    time = VirtualTimeSource()
    store = DbTokenStore(db, SecretBox(SecretStr(_KEY)), time)
    assert store.load("0xW", "http://ro") is None
    store.save("0xW", "http://ro", "refresh-123e4567", 42)
    store.save("0xW", "http://ro", "refresh-second", 43)  # an upsert
    with db.read() as conn:
        stored = conn.execute(select(auth_tokens.c.refresh_token_enc)).scalars().all()
    assert len(stored) == 1 and "refresh" not in stored[0]
    assert store.load("0xW", "http://ro") == ("refresh-second", 43)
    other = DbTokenStore(db, SecretBox(SecretStr(Fernet.generate_key().decode())), time)
    assert other.load("0xW", "http://ro") is None  # sealed with another key: unreadable
    store.clear("0xW", "http://ro")
    assert store.load("0xW", "http://ro") is None


def test_secret_settings_are_masked_and_validated() -> None:
    settings = load_settings(
        None,
        hufi={
            "wallet_private_key": "ab" * 32,
            "exchange_keys": [{"exchange": "MEXC", "api_key": "k", "secret_key": "s"}],
        },
    )
    masked = settings.masked()["hufi"]
    assert masked["wallet_private_key"] == "***"
    assert masked["exchange_keys"][0]["secret_key"] == "***"
    assert settings.hufi.key_for("mexc") is not None
    with pytest.raises(ConfigError, match="campaign_types"):
        load_settings(None, hufi={"campaign_types": ["HOLDING"]})
    with pytest.raises(ConfigError, match=r"hufi\.secrets_key"):
        SecretBox(SecretStr("not-a-fernet-key"))


class _MemoryStore:
    def __init__(self) -> None:
        self.saved: dict[tuple[str, str], tuple[str, int]] = {}

    def load(self, wallet: str, oracle_url: str) -> tuple[str, int] | None:
        return self.saved.get((wallet, oracle_url))

    def save(self, wallet: str, oracle_url: str, refresh_token: str, expires_ns: int) -> None:
        self.saved[(wallet, oracle_url)] = (refresh_token, expires_ns)

    def clear(self, wallet: str, oracle_url: str) -> None:
        self.saved.pop((wallet, oracle_url), None)


async def test_a_restart_resumes_the_session_from_the_stored_refresh_token() -> None:
    async with hufi_env() as env:
        store = _MemoryStore()
        key = wallet_key("restart")
        before = env.wallet(key, store=store)
        await before.oracle.me()
        after = env.wallet(key, store=store)  # a new process: no tokens in memory
        await after.oracle.me()
        assert (env.world.oracle.logins, env.world.oracle.refreshes) == (1, 1)
