"""The user-action memo: the anchor vector, round trips, and a decoder fuzzed with garbage."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from hufimm.mixin.memo import (
    DecodedMemo,
    MemoAction,
    MemoProduct,
    MemoStatus,
    PoolMemo,
    b58decode,
    b58encode,
    decode_memo,
    decode_memo_text,
    encode_memo,
    memo_extra,
)

ANCHOR = PoolMemo(
    MemoAction.CREATE,
    uuid.UUID("11111111-2222-4333-8444-555555555555"),
    uuid.UUID("66666666-7777-4888-8999-aaaaaaaaaaaa"),
    MemoProduct.MARKET_MAKING,
)
ANCHOR_TEXT = "f248CbewFETvsA3VzSHjnXNtGMqDQqinQ1UGGf7ccL9weGBfUTeD"

memos = st.builds(
    PoolMemo,
    st.sampled_from(MemoAction),
    st.uuids(),
    st.uuids(),
    st.sampled_from(MemoProduct),
)


def test_anchor_vector() -> None:
    assert encode_memo(ANCHOR) == ANCHOR_TEXT
    decoded = decode_memo(ANCHOR_TEXT.encode().hex())
    assert decoded.status is MemoStatus.VALID and decoded.memo == ANCHOR
    assert len(ANCHOR_TEXT) == 52
    assert decoded.to_payload()["order_id"] == "66666666-7777-4888-8999-aaaaaaaaaaaa"


def test_statuses_of_typical_garbage() -> None:
    assert decode_memo("").status is MemoStatus.EMPTY
    assert decode_memo(None).status is MemoStatus.EMPTY
    assert decode_memo("zz").status is MemoStatus.MALFORMED
    assert decode_memo("ff").status is MemoStatus.MALFORMED  # not UTF-8
    assert decode_memo(b"hello world".hex()).status is MemoStatus.MALFORMED  # space, 'l'
    assert decode_memo("ab" * 300).status is MemoStatus.MALFORMED  # beyond the extra limit
    plain = decode_memo(b"thanks".hex())
    assert plain.status.flagged and plain.text == "thanks"


def test_other_versions_and_unknown_actions_are_flagged_not_dropped() -> None:
    data = bytearray(b58decode(ANCHOR_TEXT) or b"")
    body = bytes([2]) + bytes(data[1:-4])

    def seal(b: bytes) -> str:
        return b58encode(b + hashlib.sha256(hashlib.sha256(b).digest()).digest()[:4])

    assert decode_memo_text(seal(body)).status is MemoStatus.UNSUPPORTED_VERSION
    unknown = bytes([1, 1, 9]) + bytes(data[3:-4])
    assert decode_memo_text(seal(unknown)).status is MemoStatus.UNKNOWN_ACTION
    short = bytes([1, 1, 1]) + bytes(16)
    assert decode_memo_text(seal(short)).status is MemoStatus.MALFORMED


@given(memos)
def test_round_trip(memo: PoolMemo) -> None:
    extra = memo_extra(memo)
    assert len(extra) <= 256
    decoded = decode_memo(extra.hex())
    assert decoded.status is MemoStatus.VALID
    assert decoded.memo == memo


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


def _garbage() -> st.SearchStrategy[str]:
    hexes = st.binary(max_size=300).map(bytes.hex)
    texts = st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass").hex())
    base58ish = st.text(alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0Ol")
    return st.one_of(
        hexes,
        texts,
        base58ish.map(lambda t: t.encode().hex()),
        st.text(max_size=40),  # not even hex
    )


@settings(max_examples=10_000, derandomize=True)
@given(_garbage())
def test_decoder_never_raises_on_garbage(memo_hex: str) -> None:
    decoded = decode_memo(memo_hex)
    assert isinstance(decoded, DecodedMemo)
    if decoded.status is MemoStatus.VALID:
        assert decoded.memo is not None
        assert decode_memo(memo_extra(decoded.memo).hex()).memo == decoded.memo


_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@settings(max_examples=1_000, derandomize=True)
@given(memos, st.integers(1, 255))
def test_corrupted_memo_is_never_valid(memo: PoolMemo, delta: int) -> None:
    """Every changed byte (checksum included) and every changed character is refused."""
    raw = b58decode(encode_memo(memo)) or b""
    for position in range(len(raw)):
        corrupted = bytearray(raw)
        corrupted[position] ^= delta
        decoded = decode_memo(b58encode(bytes(corrupted)).encode().hex())
        assert decoded.status is not MemoStatus.VALID and decoded.status.flagged
    text = encode_memo(memo)
    for position, char in enumerate(text):
        replacement = _ALPHABET[(_ALPHABET.index(char) + delta % 57 + 1) % 58]
        changed = text[:position] + replacement + text[position + 1 :]
        assert decode_memo(changed.encode().hex()).status is not MemoStatus.VALID
