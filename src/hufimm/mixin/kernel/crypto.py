"""Ed25519 scalar arithmetic for Mixin's one-time keys and input signatures.

An output to a user carries a one-time ("ghost") public key ``P = x·B + Y`` where ``Y`` is the
user's spend public key and ``x`` a per-output scalar that Mixin hands back as the input's
*view* when the output is spent.  The spender signs with the private scalar ``t = x + y``; the
signature is a plain Ed25519 signature under ``P``, so any Ed25519 verifier checks it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

#: Order of the Ed25519 base point.
L = 2**252 + 27742317777372353535851937790883648493


class InvalidScalar(ValueError):
    """A 32-byte value is not a canonical scalar (it must be below L)."""


def _scalar_int(value: bytes) -> int:
    if len(value) != 32:
        raise InvalidScalar(f"a scalar is 32 bytes, got {len(value)}")
    return int.from_bytes(value, "little")


def _scalar_bytes(value: int) -> bytes:
    return (value % L).to_bytes(32, "little")


def is_canonical_scalar(value: bytes) -> bool:
    return len(value) == 32 and _scalar_int(value) < L


def reduce_wide(value: bytes) -> bytes:
    """A 64-byte string reduced modulo L (uniform scalars from hashes or random bytes)."""
    if len(value) != 64:
        raise ValueError(f"wide reduction takes 64 bytes, got {len(value)}")
    return _scalar_bytes(int.from_bytes(value, "little"))


def spend_scalar(seed: bytes) -> bytes:
    """The private scalar ``y`` of a 32-byte Ed25519 seed (clamped, then reduced mod L)."""
    if len(seed) != 32:
        raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
    digest = bytearray(hashlib.sha512(seed).digest()[:32])
    digest[0] &= 248
    digest[31] &= 63
    digest[31] |= 64
    return _scalar_bytes(int.from_bytes(digest, "little"))


def public_key(seed: bytes) -> bytes:
    """The Ed25519 public key of a seed (equals ``spend_scalar(seed)·B``)."""
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def base_mult(scalar: bytes) -> bytes:
    """``scalar·B`` for a canonical scalar."""
    if not is_canonical_scalar(scalar):
        raise InvalidScalar("scalar is not below L")
    return bytes(sodium.crypto_scalarmult_ed25519_base_noclamp(scalar))


def point_add(p: bytes, q: bytes) -> bytes:
    return bytes(sodium.crypto_core_ed25519_add(p, q))


def is_valid_point(point: bytes) -> bool:
    return len(point) == 32 and bool(sodium.crypto_core_ed25519_is_valid_point(point))


def ghost_public_key(view: bytes, receiver_spend_public: bytes) -> bytes:
    """``x·B + Y``: the one-time key an output to ``Y`` carries, given its view scalar ``x``."""
    return point_add(base_mult(view), receiver_spend_public)


def sign_input(view: bytes, spend_y: bytes, message: bytes) -> bytes:
    """Sign ``message`` (the transaction hash) with ``t = view + y``.

    Deterministic like Ed25519: the nonce is derived from the key and the message, so signing
    the same transaction again yields the same bytes.
    """
    if not is_canonical_scalar(view):
        raise InvalidScalar("view is not a canonical scalar")
    t = _scalar_bytes(_scalar_int(view) + _scalar_int(spend_y))
    prefix = hashlib.sha512(t).digest()[32:]
    r = reduce_wide(hashlib.sha512(prefix + message).digest())
    big_r = base_mult(r)
    big_a = base_mult(t)
    k = reduce_wide(hashlib.sha512(big_r + big_a + message).digest())
    s = _scalar_bytes(_scalar_int(r) + _scalar_int(k) * _scalar_int(t))
    return big_r + s


def sign_inputs(views: Sequence[bytes], spend_seed: bytes, message: bytes) -> list[bytes]:
    """One signature per input, in input order."""
    y = spend_scalar(spend_seed)
    return [sign_input(view, y, message) for view in views]


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Standard Ed25519 verification; ``False`` for any malformed key or signature."""
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
        return False
    except nacl.exceptions.CryptoError:
        return False
    return True
