"""The simulated oracle's credentials: EIP-191 wallet signatures in, ES256 JWTs out.

Signatures are verified for real (the address is recovered from the signature of the compact
JSON nonce message), and access tokens are real ES256 JWTs signed with a P-256 key derived from
the world's seed, so a client that decodes ``exp`` or a test that tampers with a token meets
exactly what it would meet in production.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from eth_account import Account
from eth_account.messages import encode_defunct

from hufimm.core.rng import SeededRng


def nonce_message(nonce: str) -> str:
    """``JSON.stringify({nonce})``: the exact text the wallet signs."""
    return json.dumps({"nonce": nonce}, separators=(",", ":"))


def recover_signer(message: str, signature: str) -> str | None:
    """The address that signed ``message`` (EIP-191 personal_sign), or ``None`` if unreadable."""
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except Exception:  # a malformed signature is simply not a valid one
        return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    wallet_address: str
    iat: int
    exp: int


class JwtIssuer:
    """Issues and verifies ES256 JWTs with ``{user_id, wallet_address, iat, exp}``."""

    _HEADER = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}, separators=(",", ":")).encode())

    def __init__(self, rng: SeededRng) -> None:
        secret = int.from_bytes(rng.randbytes(32), "big")
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        self._key = ec.derive_private_key(secret % (order - 1) + 1, ec.SECP256R1())
        self._public = self._key.public_key()

    def issue(self, user_id: str, wallet_address: str, iat: int, exp: int) -> str:
        payload = {"user_id": user_id, "wallet_address": wallet_address, "iat": iat, "exp": exp}
        signing_input = f"{self._HEADER}.{_b64(json.dumps(payload).encode())}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def verify(self, token: str, now_s: int) -> AccessClaims | None:
        """The claims of a genuine, unexpired token; ``None`` for anything else."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != self._HEADER:
            return None
        try:
            raw = _unb64(parts[2])
            if len(raw) != 64:
                return None
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            self._public.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
            payload: dict[str, Any] = json.loads(_unb64(parts[1]))
            claims = AccessClaims(
                str(payload["user_id"]),
                str(payload["wallet_address"]),
                int(payload["iat"]),
                int(payload["exp"]),
            )
        except (InvalidSignature, ValueError, KeyError, TypeError):
            return None
        return claims if claims.exp > now_s else None
