"""Identifiers Mixin computes from other identifiers.

``unique_object_id`` is Mixin's own name-based UUID (md5 with version 3 bits set, but not
``uuid.uuid3``: there is no namespace); conversation ids, EVM token asset ids and the fee leg's
request id are made with it.  Our own request ids are uuid5 (``hufimm.core.ids``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

#: The Mixin user that receives withdrawal fees.
FEE_USER_ID = "674d6776-d600-4346-af46-58e77d8df185"


def unique_object_id(*parts: str) -> str:
    digest = bytearray(hashlib.md5("".join(parts).encode(), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def kernel_asset_id(asset_id: str) -> bytes:
    """The 32-byte asset hash the kernel uses: sha256 of the asset UUID's text."""
    return hashlib.sha256(asset_id.encode()).digest()


def members_hash(members: Iterable[str]) -> str:
    """sha3-256 of the sorted member UUIDs joined without separator, as hex."""
    return hashlib.sha3_256("".join(sorted(members)).encode()).hexdigest()


def evm_asset_id(chain_id: str, contract_address: str) -> str:
    """Asset id of an EVM token: the contract address must be lower-cased first."""
    return unique_object_id(chain_id, contract_address.lower())


def conversation_id(user_a: str, user_b: str) -> str:
    low, high = sorted((user_a, user_b))
    return unique_object_id(low, high)


def fee_request_id(request_id: str) -> str:
    """Request id of the fee transaction that travels with a withdrawal in another asset."""
    return unique_object_id(request_id, "FEE")
