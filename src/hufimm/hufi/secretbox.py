"""Encryption at rest for secrets hufimm has to persist (refresh tokens).

Fernet (AES-128-CBC + HMAC-SHA256) with a key from settings (``hufi.secrets_key``); without a
key nothing secret is persisted at all.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from hufimm.core.errors import ConfigError


class SecretBox:
    __slots__ = ("_fernet",)

    def __init__(self, key: SecretStr) -> None:
        try:
            self._fernet = Fernet(key.get_secret_value().encode())
        except (ValueError, TypeError):
            raise ConfigError(
                "hufi.secrets_key", "not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str | None:
        """The plaintext, or ``None`` when the value was sealed with another key or altered."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return None

    def __repr__(self) -> str:
        return "SecretBox(***)"
