"""The wallet session's refresh token, persisted encrypted so a restart resumes the session.

Logging in again after every restart would rotate the wallet's single refresh token and nonce
under any other owner; resuming with the stored token avoids that.  The token is sealed with
the ``hufi.secrets_key`` Fernet key and is unreadable without it.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from hufimm.core.timesource import TimeSource
from hufimm.hufi.secretbox import SecretBox
from hufimm.hufi.tables import auth_tokens, upsert
from hufimm.store.db import Database


class DbTokenStore:
    def __init__(self, db: Database, box: SecretBox, time: TimeSource) -> None:
        self._db = db
        self._box = box
        self._time = time

    def load(self, wallet: str, oracle_url: str) -> tuple[str, int] | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(auth_tokens.c.refresh_token_enc, auth_tokens.c.expires_ns).where(
                    auth_tokens.c.wallet == wallet, auth_tokens.c.oracle_url == oracle_url
                )
            ).first()
        if row is None:
            return None
        token = self._box.decrypt(row.refresh_token_enc)
        return None if token is None else (token, int(row.expires_ns))

    def save(self, wallet: str, oracle_url: str, refresh_token: str, expires_ns: int) -> None:
        values = {
            "wallet": wallet,
            "oracle_url": oracle_url,
            "refresh_token_enc": self._box.encrypt(refresh_token),
            "expires_ns": expires_ns,
            "updated_ns": self._time.time_ns(),
        }
        with self._db.begin() as conn:
            upsert(conn, auth_tokens, values, ("wallet", "oracle_url"))

    def clear(self, wallet: str, oracle_url: str) -> None:
        with self._db.begin() as conn:
            conn.execute(
                delete(auth_tokens).where(
                    auth_tokens.c.wallet == wallet, auth_tokens.c.oracle_url == oracle_url
                )
            )
