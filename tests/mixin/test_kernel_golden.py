"""The golden transaction vector made with Mixin's own SDK: decode, encode, hash, sign, assemble."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hufimm.core.money import from_units
from hufimm.mixin.kernel import (
    KernelDecodeError,
    Transaction,
    decode_transaction,
    encode_transaction,
    ghost_public_key,
    kernel_asset_id,
    public_key,
    sign_inputs,
    transaction_hash,
    verify,
)

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "mixin-golden-tx.json").read_text()
)
UNSIGNED = bytes.fromhex(VECTOR["unsigned_raw"])
SIGNED = bytes.fromhex(VECTOR["signed_raw"])


def _as_payload(tx: Transaction) -> dict[str, Any]:
    return {
        "version": tx.version,
        "asset": tx.asset.hex(),
        "inputs": [{"hash": i.hash.hex(), "index": i.index} for i in tx.inputs],
        "outputs": [
            {
                "type": o.type,
                "amount": str(from_units(o.amount, 8).normalize()),
                "keys": [k.hex() for k in o.keys],
                "mask": o.mask.hex(),
                "script": o.script.hex(),
                "withdrawal": None,
            }
            for o in tx.outputs
        ],
        "references": [r.hex() for r in tx.references],
        "extra_hex": tx.extra.hex(),
    }


def test_decode_matches_the_vector_and_reencodes_byte_for_byte() -> None:
    tx = decode_transaction(UNSIGNED)
    assert _as_payload(tx) == VECTOR["decoded"]
    assert tx.signatures == ()
    assert encode_transaction(tx) == UNSIGNED
    assert UNSIGNED.endswith(b"\x00\x00")


def test_amounts_are_exact_units() -> None:
    tx = decode_transaction(UNSIGNED)
    assert [o.amount for o in tx.outputs] == [170_000_000, 5_000_000]
    total_in = sum(Decimal(u["amount"]) for u in VECTOR["context"]["spent_utxos"])
    assert from_units(sum(o.amount for o in tx.outputs), 8) == total_in


def test_asset_hash_and_transaction_hash() -> None:
    tx = decode_transaction(UNSIGNED)
    assert kernel_asset_id(VECTOR["context"]["asset_id"]) == tx.asset
    assert transaction_hash(UNSIGNED).hex() == VECTOR["tx_hash"]
    assert tx.hash().hex() == VECTOR["tx_hash"]


def test_signing_reproduces_the_signatures_and_the_signed_raw() -> None:
    seed = bytes.fromhex(VECTOR["spend_seed"])
    assert public_key(seed).hex() == VECTOR["spend_public_key"]
    views = [bytes.fromhex(v) for v in VECTOR["views"]]
    signatures = sign_inputs(views, seed, transaction_hash(UNSIGNED))
    assert [s.hex() for s in signatures] == [s["signature"] for s in VECTOR["signatures"]]
    signed = decode_transaction(UNSIGNED).with_signatures([{0: s} for s in signatures])
    assert signed.encode() == SIGNED


def test_fake_side_verifies_each_signature_under_the_input_key() -> None:
    spend_public = bytes.fromhex(VECTOR["spend_public_key"])
    message = bytes.fromhex(VECTOR["tx_hash"])
    signed = decode_transaction(SIGNED)
    assert signed.unsigned_bytes() == UNSIGNED
    assert _as_payload(signed) == VECTOR["decoded"]
    for index, (view, expected_key) in enumerate(
        zip(VECTOR["views"], VECTOR["input_public_keys"], strict=True)
    ):
        key = ghost_public_key(bytes.fromhex(view), spend_public)
        assert key.hex() == expected_key
        assert verify(key, message, signed.signatures[index][0])
        # the other input's key must not verify this signature
        other = bytes.fromhex(VECTOR["input_public_keys"][1 - index])
        assert not verify(other, message, signed.signatures[index][0])


def test_a_flipped_bit_in_a_signature_fails_verification() -> None:
    signed = decode_transaction(SIGNED)
    signature = bytearray(signed.signatures[0][0])
    signature[5] ^= 0x01
    key = bytes.fromhex(VECTOR["input_public_keys"][0])
    assert not verify(key, bytes.fromhex(VECTOR["tx_hash"]), bytes(signature))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        UNSIGNED[:-1],
        UNSIGNED + b"\x00",
        b"\x77\x76" + UNSIGNED[2:],
        UNSIGNED[:2] + b"\x00\x04" + UNSIGNED[4:],
    ],
    ids=["empty", "truncated", "trailing", "magic", "version"],
)
def test_malformed_raw_is_rejected(raw: bytes) -> None:
    with pytest.raises(KernelDecodeError):
        decode_transaction(raw)
