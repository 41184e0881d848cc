"""The records the simulated Mixin keeps, each rendered as the Safe API's JSON shows it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hufimm.core.money import MIXIN_PRECISION, from_units, to_units_exact
from hufimm.mixin.kernel import (
    Transaction,
    format_rfc3339_nano,
    kernel_asset_id,
    members_hash,
)


def format_amount(units: int) -> str:
    """Mixin's amount text: plain decimal, no exponent, no trailing zeros."""
    return format(from_units(units, MIXIN_PRECISION).normalize(), "f")


def parse_amount(text: str) -> int:
    return to_units_exact(Decimal(text), MIXIN_PRECISION)


@dataclass
class SimUser:
    user_id: str
    full_name: str
    identity_number: str
    session_id: str
    session_public: bytes
    spend_public: bytes | None
    has_safe: bool = True
    oauth_secret: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "user",
            "user_id": self.user_id,
            "identity_number": self.identity_number,
            "full_name": self.full_name,
            "has_safe": self.has_safe,
        }


@dataclass(frozen=True)
class UserKeys:
    """What a created user gets to keep: its keystore (seeds in hex)."""

    user_id: str
    session_id: str
    session_private_key: str
    spend_private_key: str

    def to_json(self) -> dict[str, str]:
        return {
            "app_id": self.user_id,
            "session_id": self.session_id,
            "session_private_key": self.session_private_key,
            "spend_private_key": self.spend_private_key,
        }


@dataclass
class SimAsset:
    asset_id: str
    chain_id: str
    symbol: str
    name: str
    asset_key: str = ""
    precision: int = 8
    confirmations: int = 12
    fee_asset_id: str = ""
    fee_units: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "safe_asset",
            "asset_id": self.asset_id,
            "chain_id": self.chain_id,
            "symbol": self.symbol,
            "name": self.name,
            "asset_key": self.asset_key,
            "precision": self.precision,
            "dust": "0.0001",
            "confirmations": self.confirmations,
            "kernel_asset_id": kernel_asset_id(self.asset_id).hex(),
        }


@dataclass
class SimOutput:
    output_id: str
    transaction_hash: str
    output_index: int
    asset_id: str
    units: int
    keys: tuple[bytes, ...]
    mask: bytes
    receivers: tuple[str, ...]
    threshold: int
    extra: bytes
    sequence: int
    request_id: str
    created_at_ns: int
    state: str = "unspent"
    locked_by: str = ""  # request id whose transaction spends it
    signed_at_ns: int = 0
    spent_at_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "kernel_output",
            "output_id": self.output_id,
            "transaction_hash": self.transaction_hash,
            "output_index": self.output_index,
            "asset_id": self.asset_id,
            "kernel_asset_id": kernel_asset_id(self.asset_id).hex(),
            "amount": format_amount(self.units),
            "mask": self.mask.hex(),
            "keys": [k.hex() for k in self.keys],
            "senders": [],
            "receivers": list(self.receivers),
            "receivers_hash": members_hash(self.receivers),
            "receivers_threshold": self.threshold,
            "extra": self.extra.hex(),
            "state": self.state,
            "sequence": self.sequence,
            "request_id": self.request_id,
            "created_at": format_rfc3339_nano(self.created_at_ns),
            "signed_by": "",
            "signed_at": format_rfc3339_nano(self.signed_at_ns) if self.signed_at_ns else "",
            "spent_at": format_rfc3339_nano(self.spent_at_ns) if self.spent_at_ns else "",
        }


@dataclass
class SimSnapshot:
    snapshot_id: str
    user_id: str
    opponent_id: str
    transaction_hash: str
    asset_id: str
    units: int
    memo: bytes
    request_id: str
    created_at_ns: int
    deposit: dict[str, Any] | None = None
    withdrawal: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "snapshot_id": self.snapshot_id,
            "user_id": self.user_id,
            "opponent_id": self.opponent_id,
            "transaction_hash": self.transaction_hash,
            "asset_id": self.asset_id,
            "kernel_asset_id": kernel_asset_id(self.asset_id).hex(),
            "amount": format_amount(self.units),
            "memo": self.memo.hex(),
            "request_id": self.request_id,
            "created_at": format_rfc3339_nano(self.created_at_ns),
            "deposit": self.deposit,
            "withdrawal": self.withdrawal,
        }


@dataclass
class GhostEntry:
    """An issued one-time key: who it pays and the view scalar that spends it."""

    receivers: tuple[str, ...]
    owner: str
    view: bytes
    mask: bytes
    used_by: str = ""  # transaction hash that put the key on an output


@dataclass
class SimRequest:
    request_id: str
    user_id: str
    raw: bytes
    tx: Transaction
    tx_hash: str
    input_ids: tuple[str, ...]
    created_at_ns: int
    updated_at_ns: int
    state: str = "unspent"
    signed_raw: bytes = b""
    snapshot_id: str = ""
    snapshot_at_ns: int = 0
    views: tuple[bytes, ...] = ()

    def to_json(self, ghosts: dict[bytes, GhostEntry], withdrawal_hash: str = "") -> dict[str, Any]:
        receivers = []
        for output in self.tx.outputs:
            if output.withdrawal is not None:
                receivers.append(
                    {
                        "members": [],
                        "members_hash": "",
                        "threshold": 0,
                        "destination": output.withdrawal.address,
                        "tag": output.withdrawal.tag,
                        "withdrawal_hash": withdrawal_hash,
                    }
                )
                continue
            entry = ghosts.get(output.keys[0]) if output.keys else None
            members = list(entry.receivers) if entry else []
            receivers.append(
                {
                    "members": members,
                    "members_hash": members_hash(members) if members else "",
                    "threshold": output.script[-1] if output.script else 0,
                    "destination": "",
                    "tag": "",
                    "withdrawal_hash": "",
                }
            )
        return {
            "type": "kernel_transaction_request",
            "request_id": self.request_id,
            "transaction_hash": self.tx_hash,
            "asset": self.tx.asset.hex(),
            "amount": format_amount(sum(o.amount for o in self.tx.outputs)),
            "extra": self.tx.extra.hex(),
            "user_id": self.user_id,
            "state": self.state,
            "raw_transaction": (self.signed_raw or self.raw).hex(),
            "senders": [self.user_id],
            "senders_hash": members_hash([self.user_id]),
            "senders_threshold": 1,
            "signers": [self.user_id] if self.state != "unspent" else [],
            "receivers": receivers,
            "views": [v.hex() for v in self.views],
            "created_at": format_rfc3339_nano(self.created_at_ns),
            "updated_at": format_rfc3339_nano(self.updated_at_ns),
            "snapshot_id": self.snapshot_id,
            "snapshot_hash": self.tx_hash if self.snapshot_id else "",
            "snapshot_at": format_rfc3339_nano(self.snapshot_at_ns) if self.snapshot_at_ns else "",
        }


@dataclass
class SimDeposit:
    deposit_id: str
    destination: str
    tag: str
    chain_id: str
    asset_id: str
    units: int
    transaction_hash: str
    output_index: int
    sender: str
    members: tuple[str, ...]
    threshold: int
    created_at_ns: int
    confirmations: int = 0
    state: str = "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "deposit",
            "deposit_id": self.deposit_id,
            "destination": self.destination,
            "tag": self.tag,
            "chain_id": self.chain_id,
            "asset_id": self.asset_id,
            "amount": format_amount(self.units),
            "transaction_hash": self.transaction_hash,
            "output_index": self.output_index,
            "confirmations": self.confirmations,
            "threshold": self.threshold,
            "state": self.state,
            "created_at": format_rfc3339_nano(self.created_at_ns),
        }


@dataclass
class DepositEntryRecord:
    entry_id: str
    chain_id: str
    members: tuple[str, ...]
    threshold: int
    destination: str
    tag: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "deposit_entry",
            "entry_id": self.entry_id,
            "chain_id": self.chain_id,
            "members": list(self.members),
            "threshold": self.threshold,
            "destination": self.destination,
            "tag": self.tag,
            "signature": hashlib.sha256(self.destination.encode()).hexdigest(),
            "is_primary": True,
        }


ETH_CHAIN = "43d61dcd-e413-450d-80b8-101d5e903357"
POLYGON_CHAIN = "b7938396-3f94-4e0a-9179-d3440718156f"
BSC_CHAIN = "1949e683-6a08-49e2-b087-d6b72398588f"
USDT_ERC20 = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
USDC_ERC20 = "9b180ab6-6abe-3dc0-a13f-04169eb34bfa"
USDT_POLYGON = "218bc6f4-7927-3f8e-8568-3a3725b74361"
USDC_POLYGON = "5fec1691-561d-339f-8819-63d54bf50b52"


def default_assets() -> list[SimAsset]:
    eth_fee = 100_000  # 0.001 ETH
    pol_fee = 1_000_000  # 0.01 POL
    return [
        SimAsset(ETH_CHAIN, ETH_CHAIN, "ETH", "Ether", "", 18, 12, ETH_CHAIN, eth_fee),
        SimAsset(
            POLYGON_CHAIN, POLYGON_CHAIN, "POL", "Polygon", "", 18, 64, POLYGON_CHAIN, pol_fee
        ),
        SimAsset(BSC_CHAIN, BSC_CHAIN, "BNB", "BNB", "", 18, 15, BSC_CHAIN, 50_000),
        SimAsset(
            USDT_ERC20,
            ETH_CHAIN,
            "USDT",
            "Tether USD",
            "0xdac17f958d2ee523a2206206994597c13d831ec7",
            6,
            12,
            ETH_CHAIN,
            eth_fee,
        ),
        SimAsset(
            USDC_ERC20,
            ETH_CHAIN,
            "USDC",
            "USD Coin",
            "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
            6,
            12,
            ETH_CHAIN,
            eth_fee,
        ),
        SimAsset(
            USDT_POLYGON,
            POLYGON_CHAIN,
            "USDT",
            "Tether USD",
            "0xc2132d05d31c914a87c6611c10748aeb04b58e8f",
            6,
            64,
            POLYGON_CHAIN,
            pol_fee,
        ),
        SimAsset(
            USDC_POLYGON,
            POLYGON_CHAIN,
            "USDC",
            "USD Coin",
            "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",
            6,
            64,
            POLYGON_CHAIN,
            pol_fee,
        ),
    ]
