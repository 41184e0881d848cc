"""The bot's Mixin credentials: who it is, the key that signs requests, the key that spends.

The session key signs JWTs only and the spend key signs transaction inputs only; neither is
ever sent, logged or shown (``repr`` masks them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hufimm.core.errors import ConfigError


def _seed(hex_value: str, key: str) -> bytes:
    try:
        seed = bytes.fromhex(hex_value.strip())
    except ValueError:
        raise ConfigError(key, "must be hex") from None
    if len(seed) == 64:  # a full Ed25519 private key (seed || public key): keep the seed
        seed = seed[:32]
    if len(seed) != 32:
        raise ConfigError(key, f"must be a 32-byte Ed25519 seed in hex, got {len(seed)} bytes")
    return seed


def _uuid(value: str, key: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ConfigError(key, f"must be a UUID, got {value!r}") from None


@dataclass(frozen=True)
class Keystore:
    app_id: str
    session_id: str
    session_seed: bytes = field(repr=False)
    spend_seed: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_hex(
        cls,
        app_id: str,
        session_id: str,
        session_private_key: str,
        spend_private_key: str | None = None,
    ) -> Keystore:
        return cls(
            _uuid(app_id, "mixin.app_id"),
            _uuid(session_id, "mixin.session_id"),
            _seed(session_private_key, "mixin.session_private_key"),
            _seed(spend_private_key, "mixin.spend_private_key") if spend_private_key else None,
        )

    def require_spend_seed(self) -> bytes:
        if self.spend_seed is None:
            raise ConfigError("mixin.spend_private_key", "needed to sign transfers")
        return self.spend_seed
