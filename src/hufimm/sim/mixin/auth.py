"""Request authentication as Mixin does it, verified for real.

The bearer JWT must be EdDSA-signed by the session key registered for its ``sid``, name that
session's user in ``uid``, be unexpired in the world's time, and carry in ``sig`` the sha256 of
method + raw request target (path and raw query exactly as received) + raw body.  This check is
written independently of the client's signing code, so a signing bug in the client fails here.
"""

from __future__ import annotations

import hashlib

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hufimm.sim.mixin.errors import UNAUTHORIZED, SimError
from hufimm.sim.mixin.records import SimUser
from hufimm.sim.mixin.world import MixinWorld

#: Tolerated clock skew for ``iat`` in the future.
SKEW_S = 60
_REQUIRED = ["uid", "sid", "iat", "exp", "jti", "sig"]


def _reject(reason: str) -> SimError:
    return SimError(UNAUTHORIZED, f"unauthorized: {reason}")


def authenticate(
    world: MixinWorld, method: str, target: str, body: bytes, authorization: str
) -> SimUser:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _reject("no bearer token")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _reject("malformed token") from None
    if header.get("alg") != "EdDSA":
        raise _reject("algorithm must be EdDSA")
    user = world.sessions.get(str(unverified.get("sid")))
    if user is None:
        raise _reject("unknown session")
    try:
        claims = jwt.decode(
            token,
            Ed25519PublicKey.from_public_bytes(user.session_public),
            algorithms=["EdDSA"],
            options={"verify_exp": False, "verify_iat": False, "require": _REQUIRED},
        )
    except jwt.PyJWTError:
        raise _reject("bad signature") from None
    if claims["uid"] != user.user_id:
        raise _reject("uid does not own the session")
    now_s = world.clock.now() // 1_000_000_000
    if not isinstance(claims["exp"], int) or claims["exp"] <= now_s:
        raise _reject("token expired")
    if not isinstance(claims["iat"], int) or claims["iat"] > now_s + SKEW_S:
        raise _reject("token issued in the future")
    expected = hashlib.sha256(method.encode() + target.encode() + body).hexdigest()
    if claims["sig"] != expected:
        raise _reject("sig does not match the request")
    return user
