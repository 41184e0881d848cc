"""The balance ledger: the only writer of balances and shares (DESIGN §4).

Other modules submit commands and read balances through this package's API; they never import
:mod:`hufimm.ledger.tables` (an import-linter contract says so).
"""

from hufimm.ledger.accounts import (
    CUSTODY_MIXIN,
    FEES,
    TREASURY,
    Bucket,
    OwnerKind,
    clearing_account,
    owner_kind,
    pnl_account,
)
from hufimm.ledger.commands import (
    Adjustment,
    BurnShares,
    Command,
    DepositCredit,
    FeeDebit,
    JournalType,
    Lock,
    MintShares,
    MmRealizedPnl,
    OutboxEventSpec,
    RewardCredit,
    RewardReceipt,
    SharesSpec,
    Unlock,
    WithdrawDebit,
)
from hufimm.ledger.outcomes import (
    Applied,
    Balance,
    Duplicate,
    Entry,
    EntryPage,
    Journal,
    LockedFunds,
    Outcome,
    Rejected,
    RejectReason,
    ShareEntry,
    ShareKind,
)
from hufimm.ledger.settings import LedgerSettings
from hufimm.ledger.shares import owners_of, share_ns, share_value
from hufimm.ledger.verify import VerifyReport, verify
from hufimm.ledger.writer import LEASE_NAME, Ledger, LedgerStopped, WriterLeaseLost

__all__ = [
    "CUSTODY_MIXIN",
    "FEES",
    "LEASE_NAME",
    "TREASURY",
    "Adjustment",
    "Applied",
    "Balance",
    "Bucket",
    "BurnShares",
    "Command",
    "DepositCredit",
    "Duplicate",
    "Entry",
    "EntryPage",
    "FeeDebit",
    "Journal",
    "JournalType",
    "Ledger",
    "LedgerSettings",
    "LedgerStopped",
    "Lock",
    "LockedFunds",
    "MintShares",
    "MmRealizedPnl",
    "OutboxEventSpec",
    "Outcome",
    "OwnerKind",
    "RejectReason",
    "Rejected",
    "RewardCredit",
    "RewardReceipt",
    "ShareEntry",
    "ShareKind",
    "SharesSpec",
    "Unlock",
    "VerifyReport",
    "WithdrawDebit",
    "WriterLeaseLost",
    "clearing_account",
    "owner_kind",
    "owners_of",
    "pnl_account",
    "share_ns",
    "share_value",
    "verify",
]
