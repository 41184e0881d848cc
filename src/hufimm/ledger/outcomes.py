"""What a submitted command became, and the read-side views of the ledger."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple


class RejectReason(enum.StrEnum):
    """Why a command could not be applied; recorded under its key, so it never flips."""

    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_ACCOUNT = "unknown_account"
    INSUFFICIENT_AVAILABLE = "insufficient_available"
    INSUFFICIENT_LOCKED = "insufficient_locked"
    ORDER_OWNER_MISMATCH = "order_owner_mismatch"
    SHARES_OUTSTANDING = "shares_outstanding"
    NO_SHARES = "no_shares"
    CLEARING_MISMATCH = "clearing_mismatch"


class Balance(NamedTuple):
    """One owner's funds in one asset, in atomic units (a tuple: cheap to make per command)."""

    owner: str
    asset_id: str
    available: int
    locked: int

    @property
    def total(self) -> int:
        return self.available + self.locked


@dataclass(frozen=True, slots=True)
class Applied:
    """The command's journal committed; ``balances`` are the touched accounts right after it."""

    journal_id: int
    balances: tuple[Balance, ...]
    shares_minted: int = 0
    shares_burned: int = 0

    def balance(self, owner: str, asset_id: str) -> Balance:
        for b in self.balances:
            if b.owner == owner and b.asset_id == asset_id:
                return b
        raise KeyError((owner, asset_id))


@dataclass(frozen=True, slots=True)
class Rejected:
    """Nothing moved; the rejection itself is recorded under the command's key."""

    reason: RejectReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The key was seen before with the same payload: its original outcome, nothing written."""

    original: Applied | Rejected


Outcome = Applied | Rejected | Duplicate


@dataclass(frozen=True, slots=True)
class LockedFunds:
    order_id: str
    owner: str
    asset_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One posting of a journal, with the (owner, asset) balance after its journal."""

    entry_id: int
    journal_id: int
    owner: str
    asset_id: str
    bucket: str
    order_id: str | None
    amount: int
    type: str
    ref_type: str
    ref_id: str
    created_at: int
    idempotency_key: str
    available_after: int
    locked_after: int


class ShareKind(enum.StrEnum):
    MINT = "MINT"
    BURN = "BURN"


@dataclass(frozen=True, slots=True)
class ShareEntry:
    """A mint or burn of one order's pool shares (``shares`` is always positive)."""

    share_entry_id: int
    journal_id: int
    order_id: str
    owner: str
    pool_id: str
    kind: ShareKind
    shares: int
    price: Decimal | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Journal:
    journal_id: int
    idempotency_key: str
    type: str
    status: str
    reason: str | None
    detail: str | None
    memo: str | None
    ref_type: str
    ref_id: str
    payload_hash: str
    created_at: int
    entries: tuple[Entry, ...]
    share_entries: tuple[ShareEntry, ...]


@dataclass(frozen=True, slots=True)
class EntryPage:
    entries: tuple[Entry, ...]
    next_cursor: int | None
