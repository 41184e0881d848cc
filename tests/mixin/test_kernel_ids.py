"""Mixin's derived identifiers and timestamps."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hufimm.mixin.kernel import (
    evm_asset_id,
    format_rfc3339_nano,
    kernel_asset_id,
    members_hash,
    parse_rfc3339_nano,
    unique_object_id,
)

ETH = "43d61dcd-e413-450d-80b8-101d5e903357"


@pytest.mark.parametrize(
    ("chain", "contract", "asset"),
    [
        (ETH, "0xdAC17F958D2ee523a2206206994597C13D831ec7", "4d8c508b-91c5-375b-92b0-ee702ed2dac5"),
        (ETH, "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "9b180ab6-6abe-3dc0-a13f-04169eb34bfa"),
    ],
)
def test_evm_token_asset_ids_match_mixin(chain: str, contract: str, asset: str) -> None:
    assert evm_asset_id(chain, contract) == asset


def test_unique_object_id_is_not_uuid3() -> None:
    value = unique_object_id("a", "b")
    assert uuid.UUID(value).version == 3
    assert value != str(uuid.uuid3(uuid.NAMESPACE_DNS, "ab"))
    assert value == unique_object_id("ab")


def test_kernel_asset_and_members_hash() -> None:
    assert kernel_asset_id("4d8c508b-91c5-375b-92b0-ee702ed2dac5").hex() == (
        "ce653a8e555bf3c167943500fe8c4d13e88b049414c04be941395c622c1dfd35"
    )
    a, b = "b" * 8 + "-0000-0000-0000-000000000000", "a" * 8 + "-0000-0000-0000-000000000000"
    assert members_hash([a, b]) == hashlib.sha3_256((b + a).encode()).hexdigest()


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_timestamps_round_trip(ns: int) -> None:
    assert parse_rfc3339_nano(format_rfc3339_nano(ns)) == ns


def test_timestamp_parsing_handles_offsets_and_trimmed_fractions() -> None:
    assert parse_rfc3339_nano("2026-01-01T00:00:00.5Z") == 1_767_225_600 * 10**9 + 500_000_000
    assert parse_rfc3339_nano("2026-01-01T01:00:00+01:00") == 1_767_225_600 * 10**9
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339_nano("yesterday")
