"""The compact memo users attach to a transfer to say what it is for.

Layout of version 1 (39 bytes, Base58 text of 52 characters, far below the 256-byte extra
limit), the same envelope as the anchor design in the Mixin reference:

====  =====================================================================
1     version (1)
1     product: 0 spot, 1 market making, 2 simply grow
1     action: 1 create (fund a new user order), 2 deposit (top up an order)
16    pool id (UUID bytes)
16    user order id (UUID bytes)
4     checksum: ``sha256(sha256(previous bytes))[:4]``
====  =====================================================================

The snapshot's ``memo`` is hex of the transfer's extra, which is the UTF-8 of the Base58 text.
:func:`decode_memo` never raises: whatever arrives, it returns a :class:`DecodedMemo` whose
``status`` says whether the memo is usable, so a deposit with a broken memo is still credited
and flagged instead of being lost in an exception.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

MEMO_VERSION = 1
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_CHECKSUM_LEN = 4
_V1_LEN = 3 + 16 + 16 + _CHECKSUM_LEN
#: Mixin's extra limit; anything longer cannot have come from a valid transfer.
MAX_MEMO_BYTES = 256


class MemoProduct(enum.IntEnum):
    SPOT = 0
    MARKET_MAKING = 1
    SIMPLY_GROW = 2


class MemoAction(enum.IntEnum):
    CREATE = 1
    DEPOSIT = 2


class MemoStatus(enum.StrEnum):
    """How a memo decoded; everything but ``VALID`` and ``EMPTY`` is flagged for review."""

    EMPTY = "empty"
    VALID = "valid"
    MALFORMED = "malformed"  # not hex / UTF-8 / Base58, or the wrong length
    BAD_CHECKSUM = "bad_checksum"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_ACTION = "unknown_action"

    @property
    def flagged(self) -> bool:
        return self not in (MemoStatus.EMPTY, MemoStatus.VALID)


@dataclass(frozen=True, slots=True)
class PoolMemo:
    """What a valid memo says: act on user order ``order_id`` in pool ``pool_id``."""

    action: MemoAction
    pool_id: uuid.UUID
    order_id: uuid.UUID
    product: MemoProduct = MemoProduct.MARKET_MAKING


@dataclass(frozen=True, slots=True)
class DecodedMemo:
    status: MemoStatus
    memo_hex: str
    memo: PoolMemo | None = None
    text: str | None = None  # the memo as text when it was UTF-8 (for the admin's eyes)
    version: int | None = None

    @property
    def valid(self) -> bool:
        return self.status is MemoStatus.VALID

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready form for the deposit event the ledger records."""
        payload: dict[str, Any] = {"status": self.status.value, "memo_hex": self.memo_hex}
        if self.text is not None:
            payload["text"] = self.text
        if self.version is not None:
            payload["version"] = self.version
        if self.memo is not None:
            payload.update(
                product=self.memo.product.name.lower(),
                action=self.memo.action.name.lower(),
                pool_id=str(self.memo.pool_id),
                order_id=str(self.memo.order_id),
            )
        return payload


# ------------------------------------------------------------------ Base58
def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_ALPHABET[rest])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes | None:
    """Bytes of Base58 ``text``, or ``None`` when a character is outside the alphabet."""
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\x00" * zeros + body


def _checksum(body: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(body).digest()).digest()[:_CHECKSUM_LEN]


# ------------------------------------------------------------------ encode / decode
def encode_memo(memo: PoolMemo) -> str:
    """The Base58 text a user puts in the transfer's memo."""
    body = (
        bytes([MEMO_VERSION, memo.product, memo.action]) + memo.pool_id.bytes + memo.order_id.bytes
    )
    return b58encode(body + _checksum(body))


def memo_extra(memo: PoolMemo) -> bytes:
    """The transaction extra carrying ``memo`` (UTF-8 of its text)."""
    return encode_memo(memo).encode()


def decode_memo(memo_hex: str | None) -> DecodedMemo:
    """Decode a snapshot's ``memo`` (hex of the extra); never raises."""
    if not memo_hex:
        return DecodedMemo(MemoStatus.EMPTY, "")
    if not isinstance(memo_hex, str) or len(memo_hex) > 2 * MAX_MEMO_BYTES:
        return DecodedMemo(MemoStatus.MALFORMED, str(memo_hex)[: 2 * MAX_MEMO_BYTES])
    try:
        extra = bytes.fromhex(memo_hex)
    except ValueError:
        return DecodedMemo(MemoStatus.MALFORMED, memo_hex)
    try:
        text = extra.decode("utf-8")
    except UnicodeDecodeError:
        return DecodedMemo(MemoStatus.MALFORMED, memo_hex)
    return _decode_text(text, memo_hex)


def decode_memo_text(text: str) -> DecodedMemo:
    """Decode memo text directly (what a payment link carries); never raises."""
    if not text:
        return DecodedMemo(MemoStatus.EMPTY, "")
    raw = text.encode("utf-8", errors="replace")
    if len(raw) > MAX_MEMO_BYTES:
        return DecodedMemo(MemoStatus.MALFORMED, raw[:MAX_MEMO_BYTES].hex())
    return _decode_text(text, raw.hex())


def _decode_text(text: str, memo_hex: str) -> DecodedMemo:
    data = b58decode(text)
    if data is None or len(data) <= _CHECKSUM_LEN:
        return DecodedMemo(MemoStatus.MALFORMED, memo_hex, text=text)
    body, checksum = data[:-_CHECKSUM_LEN], data[-_CHECKSUM_LEN:]
    if _checksum(body) != checksum:
        return DecodedMemo(MemoStatus.BAD_CHECKSUM, memo_hex, text=text)
    version = body[0]
    if version != MEMO_VERSION:
        return DecodedMemo(MemoStatus.UNSUPPORTED_VERSION, memo_hex, text=text, version=version)
    if len(data) != _V1_LEN:
        return DecodedMemo(MemoStatus.MALFORMED, memo_hex, text=text, version=version)
    product, action = body[1], body[2]
    if product not in MemoProduct._value2member_map_ or action not in MemoAction._value2member_map_:
        return DecodedMemo(MemoStatus.UNKNOWN_ACTION, memo_hex, text=text, version=version)
    memo = PoolMemo(
        action=MemoAction(action),
        pool_id=uuid.UUID(bytes=body[3:19]),
        order_id=uuid.UUID(bytes=body[19:35]),
        product=MemoProduct(product),
    )
    return DecodedMemo(MemoStatus.VALID, memo_hex, memo=memo, text=text, version=version)
