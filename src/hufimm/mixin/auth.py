"""Per-request authentication: an EdDSA JWT whose ``sig`` claim binds the exact request.

``sig = sha256(METHOD + URI + BODY)`` where URI is the path plus the raw query exactly as sent
and BODY the exact body bytes.  The client therefore serializes the body and the query once and
sends those same bytes (see :mod:`hufimm.mixin.client`).
"""

from __future__ import annotations

import hashlib

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hufimm.mixin.keystore import Keystore

#: Token lifetime; short, since every request signs its own token.
TOKEN_TTL_S = 300


def request_digest(method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(method.upper().encode() + uri.encode() + body).hexdigest()


def sign_request(
    keystore: Keystore,
    method: str,
    uri: str,
    body: bytes,
    *,
    now_s: int,
    jti: str,
    ttl_s: int = TOKEN_TTL_S,
) -> str:
    """The bearer token for one request."""
    claims = {
        "uid": keystore.app_id,
        "sid": keystore.session_id,
        "iat": now_s,
        "exp": now_s + ttl_s,
        "jti": jti,
        "scp": "FULL",
        "sig": request_digest(method, uri, body),
    }
    key = Ed25519PrivateKey.from_private_bytes(keystore.session_seed)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "JWT"})
