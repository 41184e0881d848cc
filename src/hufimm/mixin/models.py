"""Typed views of the Safe API's JSON objects.

Amounts stay exact (:class:`~decimal.Decimal` parsed from Mixin's strings, never floats);
``units`` gives the kernel's integer 10^-8 units.  A missing field or a value of the wrong shape
raises :class:`~hufimm.mixin.errors.MixinProtocolError` at the boundary instead of deep inside
the business logic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from hufimm.core.money import MIXIN_PRECISION, to_decimal, to_units_exact
from hufimm.mixin.errors import MixinProtocolError
from hufimm.mixin.kernel import parse_rfc3339_nano

T = TypeVar("T")


def parse(kind: Callable[[dict[str, Any]], T], data: Any) -> T:
    """Build a model from JSON, turning shape errors into one protocol error."""
    if not isinstance(data, dict):
        raise MixinProtocolError(f"expected an object for {kind}, got {type(data).__name__}")
    try:
        return kind(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise MixinProtocolError(f"malformed {kind}: {exc!r}") from None


def parse_list(kind: Callable[[dict[str, Any]], T], data: Any) -> list[T]:
    if not isinstance(data, list):
        raise MixinProtocolError(f"expected a list, got {type(data).__name__}")
    return [parse(kind, item) for item in data]


def _amount(value: Any) -> Decimal:
    return to_decimal(str(value))


def units(amount: Decimal) -> int:
    """Kernel units of an amount Mixin sent (it never has more than 8 decimals)."""
    return to_units_exact(amount, MIXIN_PRECISION)


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    full_name: str
    identity_number: str
    has_safe: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        return cls(
            str(data["user_id"]),
            str(data.get("full_name", "")),
            str(data.get("identity_number", "")),
            bool(data.get("has_safe", False)),
        )


@dataclass(frozen=True, slots=True)
class SnapshotDeposit:
    deposit_hash: str
    deposit_index: int
    sender: str
    destination: str
    tag: str


@dataclass(frozen=True, slots=True)
class SnapshotWithdrawal:
    withdrawal_hash: str
    receiver: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    snapshot_id: str
    user_id: str
    opponent_id: str
    transaction_hash: str
    asset_id: str
    kernel_asset_id: str
    amount: Decimal
    memo: str
    request_id: str
    created_at: str
    created_at_ns: int
    deposit: SnapshotDeposit | None
    withdrawal: SnapshotWithdrawal | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        deposit = data.get("deposit")
        withdrawal = data.get("withdrawal")
        return cls(
            snapshot_id=str(data["snapshot_id"]),
            user_id=str(data.get("user_id", "")),
            opponent_id=str(data.get("opponent_id") or ""),
            transaction_hash=str(data.get("transaction_hash", "")),
            asset_id=str(data["asset_id"]),
            kernel_asset_id=str(data.get("kernel_asset_id", "")),
            amount=_amount(data["amount"]),
            memo=str(data.get("memo") or ""),
            request_id=str(data.get("request_id") or ""),
            created_at=str(data["created_at"]),
            created_at_ns=parse_rfc3339_nano(str(data["created_at"])),
            deposit=SnapshotDeposit(
                str(deposit.get("deposit_hash", "")),
                int(deposit.get("deposit_index", 0)),
                str(deposit.get("sender", "")),
                str(deposit.get("destination", "")),
                str(deposit.get("tag", "")),
            )
            if isinstance(deposit, dict)
            else None,
            withdrawal=SnapshotWithdrawal(
                str(withdrawal.get("withdrawal_hash", "")), str(withdrawal.get("receiver", ""))
            )
            if isinstance(withdrawal, dict)
            else None,
        )


@dataclass(frozen=True, slots=True)
class UtxoOutput:
    output_id: str
    transaction_hash: str
    output_index: int
    asset_id: str
    kernel_asset_id: str
    amount: Decimal
    keys: tuple[str, ...]
    mask: str
    receivers: tuple[str, ...]
    receivers_threshold: int
    state: str
    sequence: int
    request_id: str
    created_at: str

    @property
    def units(self) -> int:
        return units(self.amount)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UtxoOutput:
        return cls(
            output_id=str(data["output_id"]),
            transaction_hash=str(data["transaction_hash"]),
            output_index=int(data["output_index"]),
            asset_id=str(data["asset_id"]),
            kernel_asset_id=str(data.get("kernel_asset_id", "")),
            amount=_amount(data["amount"]),
            keys=tuple(str(k) for k in data.get("keys") or ()),
            mask=str(data.get("mask", "")),
            receivers=tuple(str(r) for r in data.get("receivers") or ()),
            receivers_threshold=int(data.get("receivers_threshold", 1)),
            state=str(data["state"]),
            sequence=int(data["sequence"]),
            request_id=str(data.get("request_id") or ""),
            created_at=str(data.get("created_at", "")),
        )


@dataclass(frozen=True, slots=True)
class GhostKeyRequest:
    receivers: tuple[str, ...]
    index: int
    hint: str

    def to_json(self) -> dict[str, Any]:
        return {"receivers": sorted(self.receivers), "index": self.index, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class GhostKeys:
    mask: bytes
    keys: tuple[bytes, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GhostKeys:
        return cls(bytes.fromhex(data["mask"]), tuple(bytes.fromhex(k) for k in data["keys"]))


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    """A registered transaction (``kernel_transaction_request``), unsigned, signed or spent."""

    request_id: str
    transaction_hash: str
    state: str
    raw_transaction: str
    views: tuple[bytes, ...]
    snapshot_id: str
    snapshot_at: str
    asset: str
    amount: Decimal
    user_id: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransactionRequest:
        return cls(
            request_id=str(data["request_id"]),
            transaction_hash=str(data.get("transaction_hash", "")),
            state=str(data["state"]),
            raw_transaction=str(data.get("raw_transaction", "")),
            views=tuple(bytes.fromhex(v) for v in data.get("views") or ()),
            snapshot_id=str(data.get("snapshot_id") or ""),
            snapshot_at=str(data.get("snapshot_at") or ""),
            asset=str(data.get("asset", "")),
            amount=_amount(data.get("amount", "0")),
            user_id=str(data.get("user_id", "")),
        )


@dataclass(frozen=True, slots=True)
class DepositEntry:
    entry_id: str
    chain_id: str
    members: tuple[str, ...]
    threshold: int
    destination: str
    tag: str
    is_primary: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DepositEntry:
        return cls(
            str(data["entry_id"]),
            str(data["chain_id"]),
            tuple(str(m) for m in data.get("members") or ()),
            int(data.get("threshold", 1)),
            str(data["destination"]),
            str(data.get("tag") or ""),
            bool(data.get("is_primary", False)),
        )


@dataclass(frozen=True, slots=True)
class PendingDeposit:
    deposit_id: str
    destination: str
    tag: str
    chain_id: str
    asset_id: str
    amount: Decimal
    transaction_hash: str
    output_index: int
    confirmations: int
    threshold: int
    state: str
    created_at: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingDeposit:
        return cls(
            str(data["deposit_id"]),
            str(data["destination"]),
            str(data.get("tag") or ""),
            str(data["chain_id"]),
            str(data["asset_id"]),
            _amount(data["amount"]),
            str(data["transaction_hash"]),
            int(data.get("output_index", 0)),
            int(data.get("confirmations", 0)),
            int(data.get("threshold", 0)),
            str(data["state"]),
            str(data.get("created_at", "")),
        )


@dataclass(frozen=True, slots=True)
class AssetInfo:
    asset_id: str
    chain_id: str
    symbol: str
    name: str
    asset_key: str
    precision: int
    kernel_asset_id: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AssetInfo:
        return cls(
            str(data["asset_id"]),
            str(data.get("chain_id", "")),
            str(data.get("symbol", "")),
            str(data.get("name", "")),
            str(data.get("asset_key", "")),
            int(data.get("precision", 8)),
            str(data.get("kernel_asset_id", "")),
        )


@dataclass(frozen=True, slots=True)
class WithdrawalFee:
    asset_id: str
    amount: Decimal
    priority: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WithdrawalFee:
        return cls(str(data["asset_id"]), _amount(data["amount"]), str(data.get("priority", "")))


@dataclass(frozen=True, slots=True)
class OAuthToken:
    access_token: str = ""
    scope: str = ""
    authorization_id: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OAuthToken:
        return cls(
            str(data.get("access_token", "")),
            str(data.get("scope", "")),
            str(data.get("authorization_id", "")),
        )
